"""A tagged music library: files tagged by one model on Ray Data, stored in LanceDB, queried by
tags and by embedding similarity ("more like this").

The row schema and the library's manifest (:mod:`app.library.schema`) are the one contract
between the build (writer) and the queries (the CLI and the service).
"""
