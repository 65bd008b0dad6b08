"""Hardware costs of networks, in two parts on two layers (docs/architecture.md, "Layers"):

* :mod:`autogtkd.hw.costs`: multiply-accumulates and parameters counted on real modules
  (:func:`~autogtkd.hw.costs.count_macs`, :func:`~autogtkd.hw.costs.count_params`); below
  :mod:`autogtkd.space`, whose custom spaces are counted with it;
* :mod:`autogtkd.hw.latency`: latency measured on hardware targets, per-target predictors and the
  target registry; above :mod:`autogtkd.space`, whose layer costs its predictors read.

This package imports neither, so importing one part never loads the other.
"""
