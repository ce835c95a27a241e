"""The taxonomy is data: the bundled file carries the codes of the issue, and a city's edited file
(new class, other deadlines) is used without code changes; a broken file gives one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from detector.errors import ConfigError
from detector.taxonomy import (
    DEFAULT_TAXONOMY_PATH,
    TAXONOMY_ENV,
    TaxonomyError,
    default_taxonomy,
    load_taxonomy,
)


def _bundled() -> dict:
    return yaml.safe_load(DEFAULT_TAXONOMY_PATH.read_text(encoding="utf-8"))


def _write(tmp_path: Path, data: dict, name: str = "taxonomy.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_bundled_taxonomy_has_the_classes_and_matter_codes_of_the_issue():
    tax = load_taxonomy()
    expected = {  # class: (matter code, Chinese name), from the issue and city-management.md
        "out_of_store_vending": ("09005", "店外经营"),
        "illegal_parking": ("09009", "机动车乱停放"),
        "overflowing_bin": ("06042", "垃圾站(箱)满溢"),
        "exposed_garbage": ("06010", "暴露垃圾"),
    }
    for name, (code, zh) in expected.items():
        spec = tax.by_name(name)
        assert (spec.matter_code, spec.zh) == (code, zh)
        assert spec.violation and spec.default_deadline_hours and spec.default_deadline_hours > 0
        assert tax.by_code(code).name == name
    soil = tax.by_name("exposed_soil")
    assert soil.zh == "黄土裸露" and soil.violation and soil.matter_code  # a local code
    context = ["vehicle", "person", "waste_bin", "two_wheeler"]  # only rules turn them into cases
    for name in context:
        spec = tax.by_name(name)
        assert not spec.violation and spec.matter_code is None and spec.detected
    assert tax.names == [tax.by_id(i).name for i in range(len(tax.names))]
    assert [c.name for c in tax.violation_classes] == [n for n in tax.names if n not in context]
    bikes = tax.by_name("non_motor_parking")  # 非机动车乱停放: a case type the two_wheeler zone rule files
    assert (bikes.matter_code, bikes.zh) == ("09010", "非机动车乱停放")
    assert bikes.violation and not bikes.detected
    assert tax.model_names == [n for n in tax.names if n != "non_motor_parking"]


def test_shared_reference_codes_match_the_bundled_file(shared_dir: Path):
    """Every matter code in the taxonomy appears in the domain reference next to its Chinese name."""
    reference = (shared_dir / "reference" / "city-management.md").read_text(encoding="utf-8")
    rows = [line for line in reference.splitlines() if line.startswith("|")]
    for spec in load_taxonomy().violation_classes:
        if spec.legacy_code == "local":
            assert any(spec.zh in row and "local" in row for row in rows), spec.name
            continue
        assert any(spec.matter_code in row and spec.zh in row for row in rows), spec.name


def test_deadline_depends_on_area_class():
    spec = load_taxonomy().by_name("illegal_parking")
    assert spec.deadline_for("A") < spec.deadline_for("C")
    assert spec.deadline_for(None) == spec.default_deadline_hours
    assert spec.deadline_for("Z") == spec.default_deadline_hours


def test_city_edits_the_file_not_the_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    data = _bundled()
    data["version"] = "city-2027"
    data["classes"][1]["deadline_hours"]["A"] = 0.5
    data["classes"].append({
        "name": "street_vending", "id": len(data["classes"]), "zh": "占道经营", "en": "Street vending",
        "matter_code": "09006", "legacy_code": "04-06", "violation": True, "severity": 3,
        "default_deadline_hours": 4, "deadline_hours": {"A": 2}, "color": "#123456",
    })
    path = _write(tmp_path, data)
    tax = load_taxonomy(path)
    assert tax.version == "city-2027"
    assert tax.names[-1] == "street_vending" and tax.by_code("09006").zh == "占道经营"
    assert tax.model_names[-1] == "street_vending"  # a detected class after a rule-only one is fine
    assert tax.by_name("illegal_parking").deadline_for("A") == 0.5

    monkeypatch.setenv(TAXONOMY_ENV, str(path))
    assert default_taxonomy().version == "city-2027"
    monkeypatch.delenv(TAXONOMY_ENV)
    assert default_taxonomy().version == _bundled()["version"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["classes"][1].update(id=0), "class ids must be 0..9"),
        (lambda d: d["classes"][5].update(id=12), "class ids must be 0..9"),
        (lambda d: d["classes"][1].update(name="out_of_store_vending"), "repeated: out_of_store_vending"),
        (lambda d: d["classes"][2].update(deadline_hour=3), "classes[2] (exposed_soil).deadline_hour"),
        (lambda d: d["classes"][0].update(matter_code=None), "needs a matter_code"),
        (lambda d: d["classes"][3].update(color="green"), "#rrggbb"),
        (lambda d: d["classes"][3]["deadline_hours"].update(A=-1), "must be > 0"),
        (lambda d: d["classes"][4].update(name="Exposed Garbage"), "lower_snake_case"),
        (lambda d: d.pop("version"), "version: Field required"),
    ],
)
def test_broken_taxonomy_gives_one_line_naming_file_and_field(tmp_path: Path, edit, message: str):
    data = _bundled()
    edit(data)
    path = _write(tmp_path, data)
    with pytest.raises(TaxonomyError) as info:
        load_taxonomy(path)
    text = str(info.value)
    assert message in text and str(path) in text and "\n" not in text
    assert isinstance(info.value, ConfigError) and isinstance(info.value, ValueError)


def test_unreadable_or_malformed_file(tmp_path: Path):
    with pytest.raises(TaxonomyError, match="cannot read"):
        load_taxonomy(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nclasses: [\n", encoding="utf-8")
    with pytest.raises(TaxonomyError, match="malformed YAML"):
        load_taxonomy(bad)
    bad.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(TaxonomyError, match="expected a mapping"):
        load_taxonomy(bad)
