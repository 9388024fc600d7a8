"""Fake kube-apiserver for tests and demos. Run: python3 -m sim.fake_apiserver --help"""
