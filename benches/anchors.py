#!/usr/bin/env python3
"""The anchors twinplan's benchmarks compare against, run on the same input in the same run.

    anchors.py load FOLDER      SimpleITK ImageSeriesReader (GDCM) on a DICOM series

Prints one JSON line: seconds (best of the repeats), peak resident memory of this process and its
resident memory before loading (both in bytes), and the voxel buffer size.
"""
import json
import resource
import sys
import time


def rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def load(folder, repeats):
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    files = reader.GetGDCMSeriesFileNames(folder)
    before = rss_bytes()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        reader.SetFileNames(files)
        img = reader.Execute()
        best = min(best, time.perf_counter() - t)
        voxels = img.GetNumberOfPixels() * img.GetSizeOfPixelComponent()
        del img
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"anchor": "SimpleITK " + sitk.Version.VersionString(), "seconds": best,
            "peak_rss_bytes": peak, "rss_before_bytes": before, "voxel_bytes": voxels}


if __name__ == "__main__":
    what, arg = sys.argv[1], sys.argv[2]
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    print(json.dumps({"load": load}[what](arg, repeats)))
