"""dw-archive: the Scrapy project that crawls DW articles into a SQLite archive."""
