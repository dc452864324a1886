"""What the project knows about dw.com, by subject; `from crawler import dw` reaches all of it.

- `crawler.dw.urls`: hosts, the 31 languages, feeds, content URLs, short codes, canonical URLs,
  image addresses.
- `crawler.dw.credits`: news agencies and their printed forms, credit lines, photo credits,
  and who is a person.
"""

from crawler.dw.credits import (
    AGENCIES,
    AGENCY_NOTES,
    NOT_PEOPLE,
    PHOTO_SOURCES,
    PUBLISHER_NAMES,
    canonical_agencies,
    canonical_agency,
    is_person,
    parse_credit_line,
    photo_agencies,
    read_photo_credit,
    strip_credit_label,
)
from crawler.dw.urls import (
    CONTENT_TYPES,
    DW_HOSTS,
    FEED_CHANNELS,
    FEED_HOSTS,
    FEEDS,
    LANGUAGES,
    MAX_CONTENT_ID,
    OLD_HOSTS,
    RTL_LANGUAGES,
    SHORTLINK,
    SHORTLINK_HOSTS,
    TRACKING_PARAMS,
    WWW,
    DwUrl,
    article_url,
    canonical_url,
    decode_short_code,
    encode_short_code,
    fetched_by_short_link,
    image_url,
    image_url_in,
    is_content_id,
    is_dw_host,
    parse_url,
    short_url,
    unwrapped,
)

__all__ = [
    "AGENCIES", "AGENCY_NOTES", "CONTENT_TYPES", "DW_HOSTS", "FEEDS", "FEED_CHANNELS",
    "FEED_HOSTS", "LANGUAGES", "MAX_CONTENT_ID", "NOT_PEOPLE", "OLD_HOSTS", "PHOTO_SOURCES",
    "PUBLISHER_NAMES", "RTL_LANGUAGES", "SHORTLINK", "SHORTLINK_HOSTS", "TRACKING_PARAMS",
    "WWW", "DwUrl", "article_url", "canonical_agencies", "canonical_agency", "canonical_url",
    "decode_short_code", "encode_short_code", "fetched_by_short_link", "image_url",
    "image_url_in", "is_content_id", "is_dw_host", "is_person", "parse_credit_line",
    "parse_url", "photo_agencies", "read_photo_credit", "short_url", "strip_credit_label",
    "unwrapped",
]  # fmt: skip
