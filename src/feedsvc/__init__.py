"""feedsvc: ingest syndication sources, normalise them, publish RSS, Atom and JSON Feed."""
