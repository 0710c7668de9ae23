#!/usr/bin/env bash
# Refresh the README's screenshots (docs/screenshots/*.png) from the demo registry: the browser
# test reads every page in headless Chromium (Debian's chromium + chromium-driver) and, with
# PROMOLAB_SCREENSHOTS set, saves the Report, Bandit and Targeting pages at 1280 px there.
# A plain test run saves them to a temporary folder instead.
set -euo pipefail
cd "$(dirname "$0")/.."
PROMOLAB_SCREENSHOTS=docs/screenshots .venv/bin/python -m pytest -o addopts="" -p no:xdist -q \
    tests/dashboard/test_browser.py -k every_page
