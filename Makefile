# dw-archive: every target installs what it needs into .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
ARCHIVE ?= data/dw.db
BACKUP ?= backup
ARGS   ?=
PORT   ?= 8001
HOST   ?= 127.0.0.1
# on: anyone who reaches the server may run read-only SQL of their own (datasette's default);
# off: only the views and saved queries (`make serve ALLOW_SQL=off`, for a shared server).
ALLOW_SQL ?= on

PEERS  := benchmarks/.venv-peers
# pywb pins redis 2.10 and pyOpenSSL < 26.2, which the crawler's own environment cannot hold
# (scrapy-redis needs redis >= 5): it gets an environment of its own.
PYWB   := .venv-pywb

.PHONY: install demo test test-packages serve screenshots crawl backup restore bench lint icu browser wget redis pywb replay clean

install: $(STAMP)

# The packages' modules compiled to bytecode by compileall on every core, not by pip one file at a
# time (about 9 s of the 21 s pip took on a clean clone, 10 CPU-s): the same .pyc files, which
# every later process reads, even where the environment says PYTHONDONTWRITEBYTECODE.
$(STAMP): pyproject.toml constraints.txt
	@$(MAKE) --no-print-directory icu
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile -c constraints.txt -e '.[test,distributed]'
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib
	rm -f $(VENV)/.installed-* && touch $@

# Debian's ICU headers and pkg-config, which PyICU (search folding, crawler/search.py) builds
# against; without them the install stops and says what to install.
icu:
	@pkg-config --exists icu-i18n 2>/dev/null || \
	  { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libicu-dev pkg-config >/dev/null; } || \
	  { echo "PyICU needs ICU's headers and pkg-config: install libicu-dev and pkg-config (Debian, Ubuntu)," \
	         "libicu-devel (Fedora) or icu4c (Homebrew), then run make again"; exit 1; }

# Debian's chromium, for the test that looks at datasette as a person would; a machine
# where it cannot be installed skips that one test and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "chromium is not installed and could not be: the browser test will be skipped"

# Debian's wget, whose `--warc-file` output the WARC import test reads; skipped without it.
wget:
	@command -v wget >/dev/null 2>&1 || \
	  { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wget >/dev/null; } || \
	  echo "wget is not installed and could not be: the wget WARC import test will be skipped"

# Debian's redis-server, for the distributed-crawl tests (each starts its own on loopback);
# a machine where it cannot be installed skips those tests and says why.
redis:
	@command -v redis-server >/dev/null 2>&1 || \
	  { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; } || \
	  echo "redis-server is not installed and could not be: the distributed-crawl tests will be skipped"

# pywb in its own environment, for backfill tests (CDX server, raw replay) and `make replay`.
pywb: $(PYWB)/.installed

$(PYWB)/.installed: devtools/pywb-requirements.txt
	test -x $(PYWB)/bin/python || $(PYTHON) -m venv $(PYWB)
	$(PYWB)/bin/python -m pip install --quiet --upgrade pip
	$(PYWB)/bin/python -m pip install --quiet -r devtools/pywb-requirements.txt
	touch $@

# pywb on loopback over the archive's own WARC files (data/dw.db-warc/, and the warc/ beside it
# of an archive made before each had its own): each page as captured, at
# http://127.0.0.1:8090/dw/{timestamp}/{url}. Files a crawl or backfill writes meanwhile are
# replayed within REPLAY_INTERVAL seconds; Ctrl-C or SIGTERM stops pywb with it.
# `make serve` links the reading view's "as captured" to REPLAY (another port, or a shared
# replay: `make serve REPLAY=https://replay.example.org/dw`).
REPLAY_PORT ?= 8090
REPLAY_INTERVAL ?= 5
REPLAY ?= http://127.0.0.1:$(REPLAY_PORT)/dw
replay: $(STAMP) pywb
	$(BIN)/python -m devtools.archives replay "$(ARCHIVE)-warc" $(wildcard $(dir $(ARCHIVE))warc) \
	  --port $(REPLAY_PORT) --interval $(REPLAY_INTERVAL)

demo: $(STAMP)
	$(BIN)/python -m devtools.demo --archive $(ARCHIVE)

# The Debian packages the tests use (ICU's headers for PyICU, chromium, wget, redis-server):
# those missing are installed together, with one apt-get update, before the environments that
# need them; then .venv and .venv-pywb are installed side by side (-j2).
test:
	@$(MAKE) --no-print-directory test-packages
	@$(MAKE) --no-print-directory -j2 $(STAMP) $(PYWB)/.installed
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest $(PYTEST_PARALLEL) --durations=20

# The suite across every core (pytest-xdist, two workers per core: tests/conftest.py says why): a
# module's tests on one worker (loadscope), so that a crawl they share through a module-scoped
# fixture runs once; the modules handed out in the order tests/conftest.py puts them, the longest
# first (no reordering by count), so that no long module starts last. `make test
# PYTEST_PARALLEL=` runs it in one process.
# The suite starts some 500 Python processes (crawls, mirrors, backfills): each reads the
# project's modules as bytecode cached in __pycache__/ (git ignores it), even where the
# environment says PYTHONDONTWRITEBYTECODE, instead of compiling them again (0.05 s of CPU each).
PYTEST_PARALLEL ?= -n auto --dist loadscope --no-loadscope-reorder

test-packages:
	@missing=""; \
	  pkg-config --exists icu-i18n 2>/dev/null || missing="$$missing libicu-dev pkg-config"; \
	  command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || missing="$$missing chromium"; \
	  command -v wget >/dev/null 2>&1 || missing="$$missing wget"; \
	  command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	  [ -z "$$missing" ] || \
	  { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; } || \
	  echo "not installed:$$missing (the tests that need them are skipped and say so; PyICU needs libicu-dev)"

# datasette with the archive's views (list, reading view, agencies, charts, search) for an archive
# of any file name: `make serve ARCHIVE=any/path.db PORT=8002`.
# Exports stream every matching row (max_csv_mb 0: no size cap on a CSV download).
DATASETTE_VIEWS := --metadata data/metadata.yml --template-dir data/templates --plugins-dir plugins \
                   --setting suggest_facets off --setting max_csv_mb 0

serve: $(STAMP)
	DW_REPLAY="$(REPLAY)" $(BIN)/datasette serve $(ARCHIVE) $(DATASETTE_VIEWS) --setting default_allow_sql $(ALLOW_SQL) \
	  --host $(HOST) --port $(PORT)

# The README's pictures (docs/*.png): the sample site crawled, edited, crawled again, in Chromium.
screenshots: $(STAMP) browser
	$(BIN)/python -m tests.browser docs

# A failed crawl ends make with make's own status 2 (GNU make knows no other), its last line
# naming the crawl's (`Error 3`); cron and systemd run .venv/bin/scrapy crawl dw directly.
crawl: $(STAMP)
	$(BIN)/scrapy crawl dw -s ARCHIVE_PATH="$(ARCHIVE)" $(ARGS)

# The archive and its captures, copied safely while a crawl or datasette has it open
# (SQLite's backup API, checked); never `cp data/dw.db`. See README, "Backups".
backup: $(STAMP)
	$(BIN)/python -m crawler.archive.backup save "$(ARCHIVE)" "$(BACKUP)"

# Restores $(BACKUP)/<archive's name> as $(ARCHIVE) with its captures; never over an archive.
restore: $(STAMP)
	$(BIN)/python -m crawler.archive.backup restore "$(BACKUP)" "$(ARCHIVE)"

# Benchmarks (not part of the tests): fundus and trafilatura live in their own environment.
$(PEERS)/.installed: benchmarks/peers-requirements.txt
	test -x $(PEERS)/bin/python || $(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/python -m pip install --quiet --upgrade pip
	$(PEERS)/bin/python -m pip install --quiet -r benchmarks/peers-requirements.txt
	touch $@

# `make bench BENCH=--large` also measures the crawl's memory at 200,000 articles (an hour more).
BENCH ?=
bench: $(STAMP) $(PEERS)/.installed redis
	$(BIN)/python -m benchmarks.run $(BENCH)
	$(BIN)/python -m benchmarks.warc
	$(BIN)/python -m benchmarks.distributed
	$(BIN)/python -m benchmarks.backfill
	$(BIN)/python -m benchmarks.integrity

lint: $(STAMP)
	$(BIN)/ruff check crawler pipelines tests benchmarks devtools

# What the Makefile and the tools build, never an archive or its captures (data/*.db,
# data/*.db-wal, data/*.db-warc/, data/warc/, backup/): no target deletes those.
clean:
	rm -rf $(VENV) $(PEERS) $(PYWB) data/replay benchmarks/work .pytest_cache .ruff_cache data/mirror-access.log
