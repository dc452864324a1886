"""Part of section 3 of `make bench`: datasette's views of the archive, timed at 1k to 1M.

The views as `make serve` starts them (data/metadata.yml, plugins/, data/templates), asked
through datasette's own client: the list (`/<db>/articles`, with its default facets), a
reading view, a search, the list of one agency, the agency facet on its own, and that agency's
streamed CSV (every row once, its seconds). Each answer must be a 200 within
datasette's default limits (1 s per SQL query, 200 ms per facet): a query that ran out of time
is an error page; a facet that did is left out of the page (datasette 0.65's JSON has no
`facets_timed_out`), so "ok" also means every facet the metadata asks for is there, except on a
list of more than `crawler.search.MANY_MATCHES` articles chosen by one search or one agency,
which is by design not counted or faceted and must say so.
"""

from __future__ import annotations

import asyncio
import importlib.util
import time
from pathlib import Path

from datasette.app import Datasette
from datasette.utils.asgi import Request

from benchmarks.common import ROOT
from crawler import search

VIEWS = {
    "list": "/{db}/articles",
    "reading view": "/{db}/articles/{id}",
    # A word one article in 1,000 holds (as a place name in the news), and two every article
    # of the generated archive holds (the worst case: nothing narrows the match).
    "search": "/{db}/articles?_search=Khartoum",
    # The same place in Chinese, inside an unspaced headline (one article in 1,000).
    "search, Chinese word": "/{db}/articles?_search=%E5%96%80%E5%9C%9F%E7%A9%86",
    "search, words in every article": "/{db}/articles?_search=Bundestag+Klima",
    # The list of one agency's stories, the agency as printed (every generated article names it):
    # read through article_agencies (plugins/dw_views.py), not json_each over every row.
    "agency filter": "/{db}/articles?agencies__arraycontains=afp",
}
# The JSON twins that say whether a facet ran out of time.
_CHECKS = {"list": "/{db}/articles.json", "search": "/{db}/articles.json?_search=Khartoum",
           "agency filter": "/{db}/articles.json?agencies__arraycontains=afp",
           "search, Chinese word": "/{db}/articles.json?_search=%E5%96%80%E5%9C%9F%E7%A9%86",
           "search, words in every article": "/{db}/articles.json?_search=Bundestag+Klima"}


FACETS = {"language", "agencies", "authors"}  # the list's facets in data/metadata.yml


def _plugin(name: str):
    spec = importlib.util.spec_from_file_location(f"dw_bench_{name}", ROOT / "plugins" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _datasette(path: Path) -> Datasette:
    import yaml

    metadata = yaml.safe_load((ROOT / "data" / "metadata.yml").read_text(encoding="utf-8"))
    return Datasette([str(path)], metadata=metadata, template_dir=str(ROOT / "data" / "templates"),
                     plugins_dir=str(ROOT / "plugins"), settings={"suggest_facets": False})


async def _time_views(path: Path, article_id: int, repeats: int) -> dict:
    ds = _datasette(path)
    await ds.invoke_startup()
    db = path.stem
    out: dict = {}
    for name, template in VIEWS.items():
        url = template.format(db=db, id=article_id)
        times, ok = [], True
        for _ in range(repeats):
            started = time.perf_counter()
            response = await ds.client.get(url)
            times.append(time.perf_counter() - started)
            ok = ok and response.status_code == 200
        check = _CHECKS.get(name)
        if check:
            data = (await ds.client.get(check.format(db=db, id=article_id))).json()
            # A list of more than crawler/search.py's MANY_MATCHES chosen by one search or one
            # agency is, by design, neither counted nor faceted, and its page says so ("More than
            # 100,000 articles"): ok when it says so and lists a full page; any other view must
            # have every facet.
            uncounted = (data.get("filtered_table_rows_count") is None
                         and "More than" in response.text and len(data.get("rows") or []) > 0)
            ok = ok and (FACETS <= set(data.get("facet_results") or {}) or uncounted)
            # Proof of work: how many articles the view matched (a search that finds nothing
            # is fast and useless; the generated archive holds each searched word).
            out[f"{name} rows"] = (f"> {search.MANY_MATCHES:,} (not counted; a page of"
                                   f" {len(data['rows'])} listed)" if uncounted
                                   else data.get("filtered_table_rows_count"))
        times.sort()
        out[f"{name} ms"] = times[len(times) // 2] * 1000
        out[f"{name} ok"] = ok
    # The agency facet alone, as the list runs it (plugins/dw_facets.py, datasette's 200 ms
    # limit), over the whole table.
    request = Request.fake(f"/{db}/articles?_facet_dw_array=agencies")
    facets = _plugin("dw_facets")
    times, timed_out = [], []
    for _ in range(repeats):
        facet = facets.JoinedArrayFacet(ds, request, db, sql="select * from articles order by"
                                        " published_at desc", table="articles", metadata={})
        started = time.perf_counter()
        _, timed_out = await facet.facet_results()
        times.append(time.perf_counter() - started)
    times.sort()
    out["agency facet ms"] = times[len(times) // 2] * 1000
    out["agency facet ok"] = not timed_out
    # The list's CSV of that agency, streamed whole (headlines only, to time the paging, not the
    # writing of text): every article once is the proof of work.
    started = time.perf_counter()
    response = await ds.client.get(f"/{db}/articles.csv?agencies__arraycontains=afp&_stream=on&_col=title")
    out["agency CSV export s"] = time.perf_counter() - started
    ids = [line.split(",", 1)[0] for line in response.text.splitlines()[1:]]
    out["agency CSV export rows"] = len(ids)
    out["agency CSV export ok"] = response.status_code == 200 and len(ids) == len(set(ids))
    return out


def time_views(path: Path, article_id: int, repeats: int = 5) -> dict:
    """Median ms of each view of the archive at `path` and whether it answered within limits."""
    return asyncio.run(_time_views(path, article_id, repeats))
