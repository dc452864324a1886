"""Scrapy settings of dw-archive: polite by default, every name overridable with `-s NAME=VALUE`.

Every setting of the project is here with its default, and read nowhere else with a fallback of
its own (tests/test_settings.py checks): Scrapy components read `crawler.settings`, and plain
Python (the archive, the distributed writer's parts, `python -m crawler.reextract`, devtools)
takes these constants as its defaults. A new setting: a line here, with its default and what it
means, read with `settings.getint("NAME")` (or `get`, `getfloat`, `getbool`) and no fallback.
"""

from scrapy.settings import default_settings as _scrapy_defaults

BOT_NAME = "dw-archive"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"
COMMANDS_MODULE = "crawler.commands"

# Where DW is fetched from. Point all three at a local mirror to crawl it instead; what is
# stored always names the real dw.com URLs.
DW_ORIGIN = "https://www.dw.com"
DW_SHORTLINK_ORIGIN = "https://p.dw.com"
DW_FEED_ORIGIN = "https://rss.dw.com"
ARCHIVE_PATH = "data/dw.db"  # the one place the default archive is named
ARCHIVE_BATCH_SIZE = 100
ARCHIVE_BATCH_SECONDS = 5.0
ARCHIVE_MAX_PAGES = 0  # SQLite pages (4 KiB) the archive may grow to; 0 = no limit
ARCHIVE_TIMEOUT = 30.0  # seconds a batch waits for another process's write lock, then fails
DW_SITEMAP_DEPTH = 3  # sitemap indexes nested deeper than this are not followed
# Bytes a sitemap or feed may have, as received and inflated (a gzipped sitemap, a gzip bomb):
# the sitemap protocol's limit, 50 MB (52,428,800 bytes) uncompressed; DOWNLOAD_MAXSIZE is for pages.
DW_LISTING_MAXSIZE = 52_428_800
# Listed articles wait packed, not as Requests (crawler/spiders/listings.py): they are admitted
# and requested while Scrapy's scheduler holds fewer than DW_REQUESTS_AHEAD requests (three times
# the parallel requests, so the downloader never waits; 0: all at once, as a distributed worker
# does); an index's next sitemap is requested while fewer than DW_PENDING_MAX articles wait.
DW_REQUESTS_AHEAD = 48
DW_PENDING_MAX = 10_000
# A listed article whose page answered 404/410 is remembered as gone (crawler/archive/gone.py)
# and not asked for again for this many days, unless a listing dates it after that check; 0:
# every run asks again.
DW_GONE_RECHECK_DAYS = 30.0

# Backfill from the web archives (python -m crawler.backfill): the only origins it requests,
# and the seconds between two requests to each (Common Crawl asks for no more than about one
# request a second; the Wayback Machine's CDX API allows 30 a minute). Point them at a pywb on
# loopback to backfill from it instead.
BACKFILL_COMMONCRAWL_CDX = "https://index.commoncrawl.org/{crawl}-index"
# The list of Common Crawl's crawls (`--crawl all`, and the check of named crawls); empty: the
# `collinfo.json` beside the CDX index (the same origin as BACKFILL_COMMONCRAWL_CDX).
BACKFILL_COMMONCRAWL_COLLINFO = ""
BACKFILL_COMMONCRAWL_DATA = "https://data.commoncrawl.org"
BACKFILL_WAYBACK_CDX = "https://web.archive.org/cdx/search/cdx"
BACKFILL_WAYBACK_REPLAY = "https://web.archive.org/web"
BACKFILL_DELAY = 1.0  # seconds between two requests to one origin
BACKFILL_WAYBACK_CDX_DELAY = 2.0
BACKFILL_RETRIES = 5  # retries of a 429 / 5xx / network failure, after Retry-After or a backoff
BACKFILL_BACKOFF = 2.0  # seconds before the first retry without Retry-After; doubled each time
BACKFILL_RETRY_AFTER_MAX = 600.0  # seconds: a longer Retry-After is waited this long, then retried
BACKFILL_TIMEOUT = 60.0  # seconds without a byte from an archive before the request is retried
# Requests to one archive that failed in a row (each after its retries) before the run stops:
# an archive that keeps answering 503 is left alone, and what was not fetched is fetched by the
# next run. Each failed request also doubles the pace's interval for that archive until one succeeds.
BACKFILL_BREAKER = 5
BACKFILL_BATCH_SIZE = 50
BACKFILL_PROGRESS_INTERVAL = 10.0  # seconds between progress lines (and saved positions in a WARC)
# Days after a range's end before its listing is taken as complete and not read again: the
# Wayback Machine indexes captures days to weeks after they are made; a CC-NEWS month's list
# of files grows until its last files are written, just after the month.
BACKFILL_WAYBACK_SETTLE_DAYS = 30
BACKFILL_CC_NEWS_SETTLE_DAYS = 2

# Politeness: identify ourselves, obey robots.txt, adapt to the server's speed.
USER_AGENT = "dw-archive/0.1 (news archive crawler; +https://github.com/dw-archive/dw-archive)"
ROBOTSTXT_OBEY = True
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 2.0
CONCURRENT_REQUESTS = 16
# A page yields one article: Scrapy's 100 parallel output workers per response
# (CONCURRENT_ITEMS) only cost asyncio tasks here; 8 was 17% faster on loopback.
CONCURRENT_ITEMS = 8
CONCURRENT_REQUESTS_PER_DOMAIN = 4
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 16 * 1024 * 1024
DOWNLOAD_WARNSIZE = 4 * 1024 * 1024
RETRY_TIMES = 3
RETRY_BACKOFF_BASE = 2.0  # seconds before the first retry, doubled for each further one
RETRY_BACKOFF_MAX = 60.0  # and never longer than this, whatever Retry-After asks
COOKIES_ENABLED = False
# Scrapy's stats collector, without the cost its deprecation shim adds to every stats call
# (crawler/extensions.py).
STATS_CLASS = "crawler.extensions.StatsCollector"
TELNETCONSOLE_ENABLED = False
# Scrapy 2.19's remote control: an HTTP server on localhost that runs the Python code sent to it
# (for Scrapy's MCP server), on by default. Off, as the telnet console is.
REMOTE_CONTROL_ENABLED = False
# Those three components, off by the settings above, are also left out of Scrapy's lists of its
# own, so that their modules are never imported: every `scrapy crawl` starts a quarter of a
# second sooner (aiohttp, twisted.conch, tldextract). Naming them `None` in EXTENSIONS or
# DOWNLOADER_MIDDLEWARES would still import them (Scrapy loads each key it is given); to use
# one, name it there with its order, and turn its setting on.
_never_loaded = frozenset({"scrapy.extensions.telnet.TelnetConsole",
                           "scrapy.extensions.remote_control.RemoteControl",
                           "scrapy.downloadermiddlewares.cookies.CookiesMiddleware"})
EXTENSIONS_BASE = {name: order for name, order in _scrapy_defaults.EXTENSIONS_BASE.items()
                   if name not in _never_loaded}
DOWNLOADER_MIDDLEWARES_BASE = {name: order for name, order
                               in _scrapy_defaults.DOWNLOADER_MIDDLEWARES_BASE.items()
                               if name not in _never_loaded}

DOWNLOADER_MIDDLEWARES = {
    "crawler.middlewares.OriginMiddleware": 50,
    # Scrapy's, but obeyed by requests made while robots.txt is fetched (crawler/middlewares.py)
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "crawler.middlewares.RobotsTxtMiddleware": 100,
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawler.middlewares.BackoffRetryMiddleware": 550,
    # Content codings undone only as far as they verify (a gzip's CRC-32...), in Scrapy's place.
    "scrapy.downloadermiddlewares.httpcompression.HttpCompressionMiddleware": None,
    "crawler.middlewares.ContentCodingMiddleware": 590,
    "crawler.warc.capture.WarcCaptureMiddleware": 950,  # above ContentCoding: bodies as received
}
SPIDER_MIDDLEWARES = {
    # Outermost: an exception from any callback or spider middleware is a counted failure.
    "crawler.spiders.failures.CountedFailures": 10,
    "crawler.warc.capture.WarcRecordMiddleware": 950,
}
# Scrapy's HTTP/1.1 handler, also keeping each response head as the server sent it, for WARC.
DOWNLOAD_HANDLERS = {"http": "crawler.warc.capture.WireHeadDownloadHandler",
                     "https": "crawler.warc.capture.WireHeadDownloadHandler"}
WARC_ENABLED = True
WARC_DIR = ""  # empty: the archive's own folder beside it, ARCHIVE_PATH + "-warc" (data/dw.db-warc/)
WARC_MAX_SIZE = 1_000_000_000  # bytes per WARC file before the next one is started (Heritrix's 1 GB)
ITEM_PIPELINES = {
    "pipelines.NormalizePipeline": 100,
    "pipelines.ArchivePipeline": 300,
}
# With -s REDIS_URL=redis://HOST:PORT/DB this process is one worker of a distributed crawl
# (crawler/distributed); without it the add-on changes nothing.
ADDONS = {"crawler.distributed.addon.Distributed": 0}
REDIS_URL = None
DW_REDIS_PREFIX = "dw"  # key prefix of this archive's cluster in Redis
DW_HEARTBEAT_SECONDS = 1.0  # how often a worker renews its heartbeat
DW_HEARTBEAT_TTL = 10.0  # seconds of silence after which a worker (or the writer) is taken for dead
DW_WRITER_WAIT = 60.0  # seconds a worker waits for the archive writer's state
EXTENSIONS = {
    "crawler.spiders.jobdir.JobDirGuard": 0,  # a JOBDIR a killed run left is not trusted
    # Scrapy's log_count/<LEVEL> stats, counting the errors logged while the crawl closes too.
    "scrapy.extensions.logcount.LogCount": None,
    "crawler.extensions.LogCount": 0,
    "crawler.archive.ArchiveExtension": 100,
    "crawler.extensions.CrawlSummary": 500,
    "crawler.extensions.CollectorTuning": 520,  # Python's GC tuned while the crawl runs
    "spidermon.contrib.scrapy.extensions.Spidermon": 510,  # field coverage, for crawler/health.py
}
SPIDERMON_ENABLED = True
SPIDERMON_ADD_FIELD_COVERAGE = True
HEALTH_RECENT_RUNS = 5  # a run's field coverage is compared with the median of these runs'
HEALTH_MIN_ARTICLES = 10  # runs with fewer articles are neither judged nor compared with
HEALTH_DROP = 0.5  # degraded when a field's share falls below this fraction of that median
HEALTH_MIN_BASELINE = 0.2  # fields usually on fewer articles than this share are not judged

# `-O articles.jsonl` / `-O articles.csv`: one record per article; in CSV, list fields are
# JSON text (as in the archive) so that they read back.
FEED_EXPORT_ENCODING = "utf-8"
FEED_EXPORTERS = {"csv": "crawler.exporters.CsvItemExporter"}
LOG_LEVEL = "INFO"
