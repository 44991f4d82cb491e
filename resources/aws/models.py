"""botocore's data files (service models, endpoint rules, paginators) parsed into plain dicts.

botocore parses every JSON data file with ``object_pairs_hook=OrderedDict``: for the dozen
services of a drift check that is most of the command's start-up (EC2's model alone takes 10 ms
that way and 2.6 ms without the hook). Since Python 3.7 a dict keeps its keys' order, and botocore
reads the loaded data only as a mapping (its model classes build their own OrderedDicts from it),
so the same files are parsed here into plain dicts, through botocore's own extension point (the
data loader's ``file_loader``). ``tests/unit/test_botocore_models.py`` holds that every file the
stack's services load parses to the same data, keys in the same order.
"""
from __future__ import annotations

import json
import os

import botocore.loaders


class PlainJSONFileLoader(botocore.loaders.JSONFileLoader):
    def _load_file(self, full_path, open_method):
        if not os.path.isfile(full_path):
            return None
        with open_method(full_path, "rb") as fp:
            return json.loads(fp.read())


def install(botocore_session) -> None:
    """Every data file this session's clients load from now on is parsed into plain dicts."""
    botocore_session.get_component("data_loader").file_loader = PlainJSONFileLoader()
