"""The web app behind ``fluidframes serve``: a local studio and HTTP API over the pipeline.

Nothing here is imported by ``fluidframes --help``; FastAPI and uvicorn (the ``server`` extra)
are imported only when the app is built (:func:`fluidframes.server.app.create_app`).

Modules: ``config`` (settings, safety checks), ``store`` (SQLite jobs), ``files`` (on-disk
layout, name sanitising), ``uploads`` (streaming multipart with a size limit), ``options``
(form fields -> pipeline options), ``limits`` (work per job, planned before a job exists),
``clip`` (the preview window cut from an upload), ``runner`` (worker threads, model reuse, live
progress, cancel), ``preview`` (browser-playable renditions), ``public`` (names instead of server
paths, strict JSON, readable media errors), ``security`` (token / host / origin checks, log
masking), ``admission`` (whether an upload or "render whole" becomes a job), ``views`` (the job
JSON clients see), ``state`` (what the routes share, and the dependency they get it through),
``routes`` (the API, one router per concern), ``app`` (the shell: state, lifespan, middleware,
routers, the page), ``cli`` (the ``serve`` subcommand).
"""
