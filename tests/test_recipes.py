"""ARCHITECTURE.md's recipes, followed in a copy of the code: each edit the recipe names, and
nothing else, makes the new thing flow from the page to `extract()`'s output and the archive.

The edits are made by replacing text that must be there; when the code moves, this test fails
and the recipe (ARCHITECTURE.md, "Where to add ...") needs the same correction.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import PAGES, ROOT

PAGE = PAGES / "current" / "app-state_a-79060002.html"  # its og:image is 79060102_6.jpg


def copy_of_the_code(tmp_path: Path) -> Path:
    copy = tmp_path / "checkout"
    shutil.copytree(ROOT / "crawler", copy / "crawler", ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def edit(copy: Path, path: str, old: str, new: str) -> None:
    file = copy / path
    text = file.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{path} no longer holds {old!r}: correct the recipe"
    file.write_text(text.replace(old, new), encoding="utf-8")


# Extract the page in the copy, store it in an archive there, print what each holds.
READ_BACK = """
import json, sys
from crawler.archive import CONTENT_FIELDS, Archive
from crawler.extract import extract
article = extract(open(sys.argv[1], 'rb').read())
archive = Archive(sys.argv[2])
archive.write_batch([article])
row = next(archive.db['articles'].rows)
columns = archive.db['articles'].columns_dict
print(json.dumps({'extracted': article.to_dict(), 'stored': row, 'columns': list(columns),
                  'content': list(CONTENT_FIELDS)}))
"""


def read_back(copy: Path, tmp_path: Path) -> dict:
    run = subprocess.run([sys.executable, "-c", READ_BACK, str(PAGE), str(tmp_path / "dw.db")],
                         capture_output=True, text=True, cwd=copy, env={"PYTHONPATH": str(copy)})
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


def test_a_field_read_from_the_page_flows_to_the_output_and_the_archive(tmp_path):
    copy = copy_of_the_code(tmp_path)
    # 1. the field, with its default, on the Article
    edit(copy, "crawler/items.py", "    teaser: str | None = None\n",
         "    teaser: str | None = None\n    social_image: str | None = None\n")
    # 2. a source that can see it reads it
    edit(copy, "crawler/extract/meta.py", '"teaser": metas.get("og:description")',
         '"social_image": metas.get("og:image"), "teaser": metas.get("og:description")')
    # 3. the sources trusted for it, in order
    edit(copy, "crawler/extract/merge.py", '    "teaser": (',
         '    "social_image": ("meta",),\n    "teaser": (')
    got = read_back(copy, tmp_path)
    image = "https://static.dw.com/image/79060102_6.jpg"
    assert got["extracted"]["social_image"] == image
    assert "social_image" in got["columns"] and got["stored"]["social_image"] == image
    assert "social_image" in got["content"]


def test_a_computed_field_flows_and_is_no_content(tmp_path):
    copy = copy_of_the_code(tmp_path)
    # 1. the field on the Article, marked NOT_CONTENT
    edit(copy, "crawler/items.py", "    body: str = \"\"\n",
         "    body: str = \"\"\n    words: int | None = field(default=None, metadata=NOT_CONTENT)\n")
    # 2. how it is computed from the cleaned fields, in the normaliser's DERIVED
    edit(copy, "crawler/extract/normalize.py", "DERIVED: dict[str, Callable[[dict], Any]] = {\n",
         "DERIVED: dict[str, Callable[[dict], Any]] = {\n"
         "    \"words\": lambda article: len(article[\"body\"].split()),\n")
    got = read_back(copy, tmp_path)
    words = len(got["extracted"]["body"].split())
    assert words > 10 and got["extracted"]["words"] == words
    assert got["stored"]["words"] == words and "words" not in got["content"]


def test_every_column_of_the_articles_table_is_described_for_its_readers():
    # The recipe's last step for a field: datasette's column descriptions and the README's
    # `articles` row name every column the archive has.
    import yaml

    from crawler.archive.schema import ARCHIVE_COLUMNS, ARTICLE_COLUMNS

    columns = set(ARTICLE_COLUMNS) | set(ARCHIVE_COLUMNS)
    metadata = yaml.safe_load((ROOT / "data" / "metadata.yml").read_text(encoding="utf-8"))
    described = metadata["databases"]["dw"]["tables"]["articles"]["columns"]
    row = next(line for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
               if line.startswith("| `articles` |"))
    assert {"id", "body", "fetched_at", "etag"} <= columns  # the schema is read
    assert sorted(columns - set(described)) == []
    assert sorted(name for name in columns if f"`{name}`" not in row) == []
