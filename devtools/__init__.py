"""Developer tools, not installed with the crawler: the local dw.com mirror, the site generator, the demo."""
