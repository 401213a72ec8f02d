"""The review app: a campaign's images served on 127.0.0.1 to approve, reject or favourite.

    from seedance_batch.review import ReviewServer, serve

    with serve(ReviewServer(Path("spring.yaml"))) as server:
        ...  # open server.url; decisions land in spring.review.yaml

``seedance-batch review MANIFEST`` runs :func:`serve_until_signalled` on a :class:`ReviewServer`.
"""

from __future__ import annotations

from seedance_batch.review._app import ReviewApp, create_app
from seedance_batch.review._campaign import Campaign, CampaignSource, Image, load_campaign
from seedance_batch.review._server import ReviewServer, serve, serve_until_signalled

__all__ = [
    "Campaign",
    "CampaignSource",
    "Image",
    "ReviewApp",
    "ReviewServer",
    "create_app",
    "load_campaign",
    "serve",
    "serve_until_signalled",
]
