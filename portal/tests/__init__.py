"""portal's tests: the assembled product below the browser (pages, API, monitoring, demo)."""
