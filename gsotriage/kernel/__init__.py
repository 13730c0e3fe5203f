"""The kernel-knowledge floor: facts about Linux kernels that every layer above
may use, and that depend on nothing but the data model.

Modules, one subject each: ``gso`` (SKB_GSO_* bit tables per kernel series),
``versions`` (upstream/stable/distro versions and whether a fix is in a kernel),
``release`` (distro package versions and arch from ``uname`` strings),
``panicsite`` (where a crash happened when panic() was called directly),
``symbols`` (compiler clone suffixes), ``kdump`` (what kdump tools save where).
"""
