"""The delivery website's project summary, as its code reads a delivery's manifest.

A copy, for tests, of `AzureProjectSummary.apply_path_dict` in the website's public source
(Duke-GCB/D4S2, `switchboard/azure_util.py`), applied to every path entry of the manifest the
way the website reads the stored manifest: as a list of path objects. A manifest that is not a
list of such objects fails here as it fails there (iterating a JSON object yields its keys, and
`"files"["is_directory"]` is a TypeError).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class ProjectSummary:
    total_size: int = 0
    file_count: int = 0
    folder_count: int = 0
    root_folder_count: int = 0
    sub_folder_count: int = 0

    def apply_path_dict(self, path_dict: Any) -> None:
        if path_dict["is_directory"]:
            self.folder_count += 1
            # Remote paths with three parts are top level directories "netid/projectname/dirname"
            if len(path_dict["name"].split("/")) == 3:
                self.root_folder_count += 1
            else:
                self.sub_folder_count += 1
        else:
            self.total_size += path_dict["content_length"]
            self.file_count += 1


def project_summary(manifest: Any) -> ProjectSummary:
    """The website's summary of a manifest it received (the `manifest` of the callback)."""
    summary = ProjectSummary()
    for path_dict in manifest:
        summary.apply_path_dict(path_dict)
    return summary
