"""Compiler options shared by the kernels.

``WITHOUT_REFCOUNTS``: the loops of a span (one call per span, thousands of
positions) are compiled without the Numba runtime's reference counting. With
it, every call that passes arrays to a kernel that is not inlined (the hidden
step, the output layer, BPTT, several per position) increments and decrements
each array's reference count with an atomic instruction around the call: about
a fifth of PTB's training time with hierarchical softmax. Such a loop may not
allocate (its caller allocates its work arrays) or assign one array to another
(``cell.copy_into`` instead); Numba refuses to compile it otherwise. A kernel
such a loop calls is compiled without reference counting too, when the loop is
compiled first, and that one compiled version then also serves callers that do
count references (the tagger, a benchmark's loop): so no such kernel returns an
array, whose reference the counting caller would release once too often (a heap
corruption). They work in place and return nothing, or numbers. ``_nrt`` is
Numba's option for this (one of its default target options); should a Numba
version lack it, the loops compile with reference counting, only slower.
"""

from __future__ import annotations

from numba.core.options import DefaultOptions

WITHOUT_REFCOUNTS = {"_nrt": False} if hasattr(DefaultOptions, "_nrt") else {}
