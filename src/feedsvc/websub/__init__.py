"""WebSub (W3C Recommendation, https://www.w3.org/TR/websub/): feeds that push.

Every feed advertises a hub and itself (``links``). After a publish, the hub
is told about exactly the feeds whose bytes changed (``feedsvc.publish``
queues it in the database). The built-in hub at ``/websub`` takes
subscription requests on the web tier (``intake``, ``feedsvc.web.websub``)
and does everything else in the scheduler (``worker``, ``calls``): it
verifies intent, keeps subscriptions with their lease (``store.websub``),
and distributes each new version of a feed to its subscribers, retrying
failures (``store.websub_queue``). An external hub (``FEEDSVC_WEBSUB_HUB``)
is pinged instead. The hub's own rules (leases, ceilings, retries) are in
``policy``; its records in ``records``.

This package is core: it never imports Flask, click or APScheduler. Nothing
is imported here, so ``feedsvc.publish`` can import ``links`` without
pulling in the worker (which imports ``feedsvc.publish``).
"""
