"""The notifications service: routes task events to professionals, pools and coordinators.

Pure core, ``domain/``: ``routing`` (who hears about a task event), ``digest``
(the morning summary), ``audience`` (whom a task concerns). Adapters: ``intake`` (the durable router consumer),
``outbox`` (exactly-once publishing to the NOTIFICATIONS stream),
``taskviews`` (what the router remembers of each task), ``digest_sender``,
``directory`` (HTTP), ``feeds`` (SSE/WebSocket), ``me`` (open tasks,
receipts), ``natsauth`` (NATS users and permissions, ``deploy/nats``).
``appclient`` is the reference NATS client for apps. ``app.create_app``
is the composition root.
"""
