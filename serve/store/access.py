"""The access repository: API keys (machines and scripts) and web users (people), and who a key or a
password belongs to. Secrets are stored hashed only (serve.store.auth)."""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from detector.errors import InputError
from serve.store import auth
from serve.store.convert import from_row
from serve.store.db import Repository
from serve.store.errors import CaseNotFound
from serve.store.models import ApiKeyRow, UserRow
from serve.store.types import ApiKey, Principal, Role, User


class AccessRepository(Repository):
    """API keys and web users. Thread-safe."""

    # ---- API keys -----------------------------------------------------------------------------
    def create_api_key(
        self, name: str, role: Role | str, vehicle_id: str | None = None
    ) -> tuple[ApiKey, str]:
        """A new key; returns its record and the plaintext (shown once; only a sha256 is stored)."""
        role = _role(role)
        if role is Role.vehicle and not vehicle_id:
            raise InputError("a vehicle key needs a vehicle_id")
        plaintext = auth.new_api_key()
        with self.db.write() as s:
            row = ApiKeyRow(
                id="k_" + secrets.token_hex(6),
                name=name,
                role=role.value,
                vehicle_id=vehicle_id,
                prefix=plaintext[:10],
                key_hash=auth.hash_api_key(plaintext),
                created_at=self.db.now(),
                revoked_at=None,
            )
            s.add(row)
            s.flush()
            return _api_key(row), plaintext

    def authenticate(self, plaintext: str) -> Principal | None:
        """The principal of a valid, unrevoked key, else None."""
        if not plaintext:
            return None
        with self.db.read() as s:
            row = s.scalar(sa.select(ApiKeyRow).where(ApiKeyRow.key_hash == auth.hash_api_key(plaintext)))
            if row is None or row.revoked_at is not None:
                return None
            return Principal(
                id=row.id, name=row.name, role=Role(row.role), vehicle_id=row.vehicle_id, kind="api_key"
            )

    def revoke_api_key(self, key_id: str) -> ApiKey:
        with self.db.write() as s:
            row = s.get(ApiKeyRow, key_id)
            if row is None:
                raise CaseNotFound(f"api key {key_id} not found")
            if row.revoked_at is None:
                row.revoked_at = self.db.now()
            return _api_key(row)

    def list_api_keys(self) -> list[ApiKey]:
        with self.db.read() as s:
            return [_api_key(r) for r in s.scalars(sa.select(ApiKeyRow).order_by(ApiKeyRow.created_at))]

    # ---- web users ----------------------------------------------------------------------------
    def create_user(self, username: str, password: str, role: Role | str) -> User:
        """A web login; the password is stored as hashlib.scrypt with a random salt."""
        role = _role(role)
        if not username or not password:
            raise InputError("username and password must not be empty")
        try:
            with self.db.write() as s:
                row = UserRow(
                    username=username,
                    role=role.value,
                    password_hash=auth.hash_password(password),
                    created_at=self.db.now(),
                    disabled=False,
                )
                s.add(row)
                s.flush()
                return _user(row)
        except IntegrityError:
            raise InputError(f"user {username!r} already exists") from None

    def set_password(self, username: str, password: str) -> None:
        with self.db.write() as s:
            row = s.scalar(sa.select(UserRow).where(UserRow.username == username))
            if row is None:
                raise CaseNotFound(f"user {username} not found")
            row.password_hash = auth.hash_password(password)

    def check_password(self, username: str, password: str) -> Principal | None:
        """The user's principal when the password matches and the user is enabled, else None."""
        with self.db.read() as s:
            row = s.scalar(sa.select(UserRow).where(UserRow.username == username))
        if row is None or row.disabled or not auth.verify_password(password, row.password_hash):
            return None
        return Principal(id=f"user:{row.id}", name=row.username, role=Role(row.role), kind="user")

    def get_user(self, username: str) -> User | None:
        """The user record (without its password hash), or None."""
        with self.db.read() as s:
            row = s.scalar(sa.select(UserRow).where(UserRow.username == username))
            return _user(row) if row else None

    def list_users(self) -> list[User]:
        with self.db.read() as s:
            return [_user(r) for r in s.scalars(sa.select(UserRow).order_by(UserRow.id))]


def _role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise InputError(f"unknown role {role!r}; known: {', '.join(r.value for r in Role)}") from None


def _api_key(row: ApiKeyRow) -> ApiKey:
    return from_row(ApiKey, row, revoked=row.revoked_at is not None)


def _user(row: UserRow) -> User:
    return from_row(User, row)
