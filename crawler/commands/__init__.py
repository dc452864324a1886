"""Scrapy commands of dw-archive (`COMMANDS_MODULE`)."""
