"""From recordings to validated TFRecord shards for e2e_emotion.

This package never imports the training code (`e2e_emotion`): the record schema
(`tfrecords_tools.schema`) is the one contract between the two.
"""

__all__ = []
