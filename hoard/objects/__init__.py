"""The object engine: where the metadata index and the drives meet.

``data.ObjectData`` is what handlers and workers use to write, publish, look up and stream an
object version; ``index`` opens the index the drives name, or rebuilds it from them. Above both
``hoard.meta`` and ``hoard.storage``, which know nothing of each other.
"""
