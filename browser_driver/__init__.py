"""Driving the real dashboard in headless Chromium, for the browser tests and the browser benchmarks alike."""
