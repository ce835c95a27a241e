"""StreetWatch datasets: class taxonomy as data, dataset import/check/split, synthetic patrol scenes.

Note: this package is named `datasets` as the design card asks; it shadows the Hugging Face
`datasets` package inside this environment (we do not use that package).
"""
