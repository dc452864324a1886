"""Feed exports (`scrapy crawl dw -O articles.csv`): list fields as JSON text, as in the archive."""

from __future__ import annotations

import json
from typing import Any

from scrapy import exporters


class CsvItemExporter(exporters.CsvItemExporter):
    """Scrapy's CSV exporter, but a list or dict cell is JSON (`["AFP", "dpa"]`), not `AFP,dpa`:
    authors, topics and image records read back exactly, commas in them included."""

    def serialize_field(self, field, name: str, value: Any) -> Any:
        if isinstance(value, (list, dict)) and "serializer" not in field:
            return json.dumps(value, ensure_ascii=False)
        return super().serialize_field(field, name, value)
