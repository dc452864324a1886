"""The one date reader (`crawler.dates`): every form each former reader took (a page's dates,
sitemap and feed dates, WARC-Date, and the HTTP-dates of `Retry-After`), through it, with the UTC
instant worked out by hand; and the same instant wherever a date is read.

Before it, a page read `Thu, 05 Nov 2026 09:00:00 CET` as 09:00Z (an unknown zone as UTC) while a
feed read it as 08:00Z; now every reader says 08:00Z, and an unknown zone is never taken as UTC.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from io import BytesIO

import pytest

from crawler.dates import UnknownZone, http_date, newest, printed_day, to_utc, utc_stamp
from crawler.extract import extract
from tests.conftest import PAGES

# -- sitemaps and feeds (the former `crawler.discovery.dates`) --------------------------------

DATES = [
    ("2026-11-05T08:00:00Z", "2026-11-05T08:00:00Z"),
    ("2026-11-05T08:00:00.000Z", "2026-11-05T08:00:00Z"),
    ("2026-11-05T08:00Z", "2026-11-05T08:00:00Z"),
    ("2026-11-05T09:30+01:00", "2026-11-05T08:30:00Z"),
    ("2026-11-05T02:00:00-05:00", "2026-11-05T07:00:00Z"),
    ("2026-11-05T13:30:00+0530", "2026-11-05T08:00:00Z"),
    ("2026-11-05", "2026-11-05"),
    ("2026-11", "2026-11-01"),
    ("Thu, 05 Nov 2026 08:00:00 GMT", "2026-11-05T08:00:00Z"),
    ("Thu, 05 Nov 2026 08:00:00 UT", "2026-11-05T08:00:00Z"),
    ("Thu, 05 Nov 2026 08:00:00 Z", "2026-11-05T08:00:00Z"),
    ("Thu, 05 Nov 2026 09:00:00 +0100", "2026-11-05T08:00:00Z"),
    ("Thu, 5 Nov 2026 03:00 EST", "2026-11-05T08:00:00Z"),
    ("Thu, 05 Nov 26 00:00:00 PST", "2026-11-05T08:00:00Z"),
    ("Thu, 05 Nov 2026 09:00:00 CET", "2026-11-05T08:00:00Z"),
    ("Thu, 05 Nov 2026 10:00:00 MESZ", "2026-11-05T08:00:00Z"),
    ("Thu, 05 Nov 2026 11:00:00 MSK", "2026-11-05T08:00:00Z"),
    ("Thu, 05 Nov 2026 09:00:00 WAT", "2026-11-05T08:00:00Z"),
    ("Thu, 05 Nov 2026 11:00:00 EAT", "2026-11-05T08:00:00Z"),
    ("Thu, 05 Nov 2026 10:00:00 SAST", "2026-11-05T08:00:00Z"),
    ("Thu, 05 Nov 2026 13:30:00 IST", "2026-11-05T08:00:00Z"),
    ("Thu, 05 Nov 2026 16:00:00 HKT", "2026-11-05T08:00:00Z"),
    ("Thu, 05 Nov 2026 15:00:00 WIB", "2026-11-05T08:00:00Z"),
    ("Thu, 05 Nov 2026 05:00:00 BRT", "2026-11-05T08:00:00Z"),
    ("Thu, 05 Nov 2026 05:00:00 ART", "2026-11-05T08:00:00Z"),
    ("Thu, 05 Nov 2026 11:00:00 GMT+3", "2026-11-05T08:00:00Z"),
    ("Thu, 05 Nov 2026 03:00:00 UTC-05:00", "2026-11-05T08:00:00Z"),
    ("Thu, 05 Nov 2026 09:00:00 +0100 (CET)", "2026-11-05T08:00:00Z"),
    ("Thu, 05 Nov 2026 09:00:00 +01:00", "2026-11-05T08:00:00Z"),
    ("Thursday, 05-Nov-26 08:00:00 GMT", "2026-11-05T08:00:00Z"),
    ("05 Nov 2026 09:00 CET", "2026-11-05T08:00:00Z"),
    ("Thu, 05 Nov 2026 08:00:00 gmt", "2026-11-05T08:00:00Z"),
    ("Thu, 05 Nov 2026 3:00 AM EST", "2026-11-05T08:00:00Z"),
    ("Thu, 05 Nov 2026 9:00 p.m. CET", "2026-11-05T20:00:00Z"),
    ("Thu, 05 Nov 2026 09:00:00 Europe/Berlin", "2026-11-05T08:00:00Z"),
    ("Thu, 05 Nov 2026 10:00:00 Africa/Nairobi", "2026-11-05T07:00:00Z"),
    ("Do, 05 Nov 2026 09:00:00 +0100", "2026-11-05T08:00:00Z"),
    ("05 März 2026 10:00 MEZ", "2026-03-05T09:00:00Z"),
    ("2026-11-05 09:00:00 +0100", "2026-11-05T08:00:00Z"),
    ("2026-11-05T08:00:00 UTC", "2026-11-05T08:00:00Z"),
    ("2026-11-05T09:00:00+01", "2026-11-05T08:00:00Z"),
    ("20261105T080000Z", "2026-11-05T08:00:00Z"),
]

# -- pages: JSON-LD, page state, meta (the former `crawler.text.to_utc`, ISO 8601 and RFC 822) --

PAGE_DATES = [
    ("2024-01-30T15:13:12.269+01:00", "2024-01-30T14:13:12Z"),  # DW's JSON-LD
    ("2026-11-02T09:30:00.000Z", "2026-11-02T09:30:00Z"),  # DW's page state
    ("2024-01-30T15:13:12+0100", "2024-01-30T14:13:12Z"),
    ("2024-01-30 15:13", "2024-01-30T15:13:00Z"),
    ("2024-01-30T15", "2024-01-30T15:00:00Z"),
    ("20240130", "2024-01-30T00:00:00Z"),
    ("2026-W45-4", "2026-11-05T00:00:00Z"),
    ("2024-01-30", "2024-01-30"),  # a bare day stays a day
    (" 2024-01-30T15:13:12Z ", "2024-01-30T15:13:12Z"),
    ("Tue, 30 Jan 2024 15:13:12 +0100", "2024-01-30T14:13:12Z"),
    ("Tue, 30 Jan 2024 15:13:12 GMT", "2024-01-30T15:13:12Z"),
    ("Tue, 30 Jan 2024 15:13:12 -0000", "2024-01-30T15:13:12Z"),
    ("30 Jan 2024 15:13", "2024-01-30T15:13:00Z"),
    ("garbage", None),
    ("2024-01-30T25:00:00Z", None),
    ("2024-13-45", None),  # no calendar has that day
    ("0000-01-01", None),
]

# -- WARC-Date (the former `crawler.warc.read.archive_date`) ----------------------------------

WARC_DATES = [
    ("2026-11-29T14:45:47.123456Z", "2026-11-29T14:45:47Z"),  # WARC/1.1, microseconds
    ("2026-11-29T14:45:47Z", "2026-11-29T14:45:47Z"),  # WARC/1.0 (wget, Common Crawl)
    ("2026-11-29T15:45:47+01:00", "2026-11-29T14:45:47Z"),
    ("not a date", None),
]

# -- HTTP-date (RFC 9110, 5.6.7: `Retry-After`, `Last-Modified`) -----------------------------

HTTP_DATES = [
    ("Sun, 06 Nov 1994 08:49:37 GMT", "1994-11-06T08:49:37Z"),  # IMF-fixdate
    ("Sunday, 06-Nov-94 08:49:37 GMT", "1994-11-06T08:49:37Z"),  # RFC 850, obsolete
    ("Sun Nov  6 08:49:37 1994", "1994-11-06T08:49:37Z"),  # asctime, obsolete
]

EVERY_FORM = [*DATES, *PAGE_DATES, *WARC_DATES, *HTTP_DATES]


@pytest.mark.parametrize("value,expected", EVERY_FORM, ids=[repr(v) for v, _ in EVERY_FORM])
def test_every_form_through_the_one_reader(value, expected):
    assert utc_stamp(value)[0] == expected
    assert to_utc(value) == expected


@pytest.mark.parametrize("value,expected", HTTP_DATES, ids=[v for v, _ in HTTP_DATES])
def test_http_dates_are_instants(value, expected):
    assert http_date(value) == datetime.strptime(expected, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert http_date(value.encode("latin-1")) == http_date(value)


@pytest.mark.parametrize("value", ["120", "", None, "2026-11-05", "Thu, 05 Nov 2026 08:00:00 XYZ"])
def test_what_is_no_http_date_is_none(value):
    assert http_date(value) is None


@pytest.mark.parametrize("value,language,expected", [
    ("30.01.2024", "de", "2024-01-30"),
    ("06/14/2026", "en", "2026-06-14"),
    ("05/11/2026", "en", "2026-05-11"),  # English pages print month/day
    ("05/11/2026", "fr", "2026-11-05"),  # the others day/month
    ("14/06/2026", "en", "2026-06-14"),  # a part over 12 settles it
    ("2026年10月29日", "zh", "2026-10-29"),
    ("2026-10-29", "de", "2026-10-29"),
    ("31.02.2024", "de", None),
    ("Donnerstag", "de", None),
])
def test_a_day_a_page_prints(value, language, expected):
    assert printed_day(value, language) == expected


# -- the same instant wherever a date is read ---------------------------------------------------

CET = "Thu, 05 Nov 2026 09:00:00 CET"
PAGE = PAGES / "current" / "app-state_a-79060002.html"  # datePublished 2026-11-02T09:30:00.000Z


def page_with_dates(json_ld: str, state: str = "2026-11-02T09:30:00.000Z") -> bytes:
    html = PAGE.read_text(encoding="utf-8")
    html = html.replace('"datePublished": "2026-11-02T09:30:00.000Z"', f'"datePublished": "{json_ld}"')
    return html.replace('"firstPublicationDate": "2026-11-02T09:30:00.000Z"',
                        f'"firstPublicationDate": "{state}"').encode()


def test_a_cet_date_is_the_same_instant_on_a_page_in_a_feed_and_in_a_warc(tmp_path):
    from warcio.warcwriter import WARCWriter

    from crawler.warc.read import scan

    assert extract(page_with_dates(CET)).published_at == "2026-11-05T08:00:00Z"
    assert newest([CET]).stamp == "2026-11-05T08:00:00Z"
    path = tmp_path / "one.warc.gz"
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        writer.write_record(writer.create_warc_record(
            "https://www.dw.com/robots.txt", "resource", payload=BytesIO(b"x"),
            warc_headers_dict={"WARC-Date": "2026-11-05T09:00:00+01:00"}))
    assert [entry.date for entry in scan(path)] == ["2026-11-05T08:00:00Z"]


def test_an_unknown_zone_on_a_page_is_a_warning_never_utc():
    html = page_with_dates("Thu, 05 Nov 2026 09:00:00 XYZ", state="Thu, 05 Nov 2026 10:00:00 QQT")
    article = extract(html)
    assert article.published_at == "2026-11-02"  # the day the page prints, not 09:00 or 10:00 as UTC
    assert [kind for kind, _ in article.warnings].count("unknown_zone") == 2
    assert any("XYZ" in detail and "JSON-LD" in detail for _, detail in article.warnings)
    assert json.loads(json.dumps(article.to_dict()))["published_at"] == "2026-11-02"


@pytest.mark.parametrize("value,zone", [("Thu, 05 Nov 2026 08:00:00 XYZ", "XYZ"),
                                        ("Thu, 05 Nov 2026 08:00:00 QQT", "QQT"),
                                        ("Thu, 05 Nov 2026 08:00:00 A", "A"),  # military zones: RFC 1123
                                        ("Thu, 05 Nov 2026 08:00:00 Mars/Olympus", "Mars/Olympus")])
def test_an_unknown_zone_is_refused_never_taken_as_utc(value, zone):
    with pytest.raises(UnknownZone) as caught:
        utc_stamp(value)
    assert caught.value.zone == zone
    reading = newest([value, "2026-11-01T00:00:00Z"])
    assert reading.unknown_zones == [zone] and reading.stamp == "2026-11-01T00:00:00Z"


def test_a_time_without_zone_is_utc_and_reported():
    assert utc_stamp("2026-11-05T08:00:00") == ("2026-11-05T08:00:00Z", True)
    assert newest(["2026-11-05T08:00"]).no_zone == 1


@pytest.mark.parametrize("values,latest", [
    (["2026-11-28T08:00:00Z", "2026-11-29T13:15:02Z"], "2026-11-29T13:15:02Z"),
    (["2026-11-29T13:15:02Z", "2026-11-28T08:00:00Z"], "2026-11-29T13:15:02Z"),
    (["Sun, 29 Nov 2026 15:00:00 CET", "2026-11-29T13:59:59Z"], "2026-11-29T14:00:00Z"),
    (["2026-11-29", "2026-11-28T23:00:00Z"], "2026-11-29"),
    ([None, "", "garbage", "2026-11-05T08:00:00Z"], "2026-11-05T08:00:00Z"),
])
def test_the_latest_of_an_entrys_dates_wins_whatever_its_place(values, latest):
    assert newest(values).stamp == latest


def test_unreadable_dates_are_reported():
    assert newest(["yesterday", "November"]).unreadable == ["yesterday", "November"]


