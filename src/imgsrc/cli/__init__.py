"""The ``imgsrc`` command line: the server (``serve``, ``worker``, ``admin``) and a client of its API (``sources``,
``jobs``, ``hubs``, ``roles``, ``keys``). Client commands use :mod:`imgsrc.client`; the server stack is imported
only by the commands that run it."""
