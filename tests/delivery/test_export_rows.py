"""``export`` of a catalogue job: a CSV of rows with ids, delivered under names made of a column
no prompt names and a prompt variable, while the lockfile, the folders and the record keep the
row's id as its variant."""

from __future__ import annotations

import json
from pathlib import Path

from _support.delivery import run_campaign

from seedance_batch._manifest import load_manifest
from seedance_batch.delivery import export

MANIFEST = """
version: 1
name: delivery-test
defaults: {model: gpt-image-2-all}
execution: {concurrency: 4, requests_per_second: 200, poll_interval: 0.05, poll_max: 0.2}
delivery:
  name: "{job}/{sku_name}/{colour}-{id}-{index}.{ext}"
jobs:
  - name: packshot
    prompt: "A {colour} bottle on a marble slab"
    rows: products.csv
"""
#: Two columns the request never sees: ``sku_name`` (named by the template) and ``notes``
#: (blank in a row: allowed, for nothing names it).
PRODUCTS = (
    "id,colour,sku_name,notes\n"
    "sku-1,amber,Serum Ten,keep cold\n"
    'sku-2,deep blue,"Night Cream, 50 ml",\n'
)


def test_a_rows_job_is_delivered_under_its_columns(tmp_path: Path) -> None:
    """Every succeeded image lands under its row's ``sku_name`` (a column not sent) and
    ``colour`` (a prompt variable) as slugs, with its id; the lockfile's variants and folders
    hold the id alone, and so does the delivery record."""
    campaign = run_campaign(tmp_path / "campaign", MANIFEST, {"products.csv": PRODUCTS})
    dest = tmp_path / "dest"
    summary = export(load_manifest(campaign.manifest), str(dest), everything=True)
    assert summary.written == 2
    record = json.loads((dest / "delivery.json").read_text())["files"]
    assert [e["name"] for e in record] == [
        "packshot/serum-ten/amber-sku-1-1.png",
        "packshot/night-cream-50-ml/deep-blue-sku-2-1.png",
    ]
    assert all((dest / e["name"]).is_file() for e in record)
    assert [e["variant"] for e in record] == [{"id": "sku-1"}, {"id": "sku-2"}]
    assert [e["prompt"] for e in record] == [
        "A amber bottle on a marble slab",
        "A deep blue bottle on a marble slab",
    ]
    jobs = json.loads(campaign.lockfile.read_text())["jobs"]
    assert [j["variant"] for j in jobs.values()] == [{"id": "sku-1"}, {"id": "sku-2"}]
    assert [
        i["path"].split("/")[1].rsplit("-", 1)[0] for j in jobs.values() for i in j["images"]
    ] == [
        "sku-1",
        "sku-2",
    ]
