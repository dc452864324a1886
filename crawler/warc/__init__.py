"""WARC: every response captured as received (`capture`), read back (`read`), and the archive
re-extracted from the captures (`reextract`)."""
