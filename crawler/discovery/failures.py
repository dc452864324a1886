"""Short, stable names for why a request failed, as counted in `dw/failed/<kind>/<reason>`."""

from __future__ import annotations

from scrapy.spidermiddlewares.httperror import HttpError

from crawler.middlewares import DamagedResponse

# Messages of Scrapy's IgnoreRequest and our middlewares, by the reason they stand for.
_IGNORED = (("WARC capture failed", "warc_not_written"),  # crawler/warc/capture.py: not kept, not used
            ("max redirections", "too_many_redirects"), ("off the configured DW origins", "off_origin"),
            ("robots.txt could not be read", "robots_txt_unreachable"),
            ("robots.txt", "robots_txt"), ("max size", "too_large"), ("maxsize", "too_large"))


def failure_reason(failure) -> str:
    """A short, stable name for why a request failed: `http_503`, `TimeoutError`, ..."""
    if failure.check(HttpError):
        return f"http_{failure.value.response.status}"
    if failure.check(DamagedResponse):  # its coding's check failed, every try: `damaged_gzip`
        return failure.value.reason
    message = str(failure.value).lower()
    for needle, reason in _IGNORED:
        if needle.lower() in message:
            return reason
    return failure.type.__name__ if failure.type else "error"


def failure_detail(failure) -> str:
    """`failure_reason` with what more the failure says, for the one warning of a failed
    request: a damaged transfer's damage (`damaged_gzip: its CRC-32 check failed: the data was
    changed in transfer (tried 4 times)`)."""
    reason = failure_reason(failure)
    if failure.check(DamagedResponse):
        return f"{reason}: {failure.value.detail}"
    return reason
