"""HTTP handlers of the notifications service, one module per resource.

- ``directory``: the CPTS directory of professionals and the default sector
  (coordinators manage it).
- ``feeds``: the caller's notifications over Server-Sent Events or WebSocket.
- ``me``: the caller's open tasks, and receipts of notifications.
- ``unseen``: open urgent or overdue tasks their professional has not seen.

The composition root (``notifications.app``) lists them.
"""
