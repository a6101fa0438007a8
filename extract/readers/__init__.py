"""Byte readers shared by the file platforms: a platform module holds its shapes, these its bytes.

- ``streams``: opening a file for streaming reads (gzip by its magic bytes) and how far each
  file has been read (the progress display's byte counts);
- ``lines``: lines in bounded reads (a line too long to hold is a ``LongLine``, read in pieces);
- ``json_text``: JSON records within bounds: long strings cut while reading
  (``shrink_json_strings``), and the records of a file in any of its shapes (one a line, or one
  document holding an array), streamed;
- ``bounded_xml``: XML streamed with no entity, no DTD and no network, text runs cut while reading;
- ``archives``: zip (zip64 included) and tar (plain or gzipped) archives recognised by their bytes,
  their members streamed under the zip-slip, member-count and bomb rules.

Every reader is bounded: memory stays flat whatever one line, string, text run or member weighs.
"""

# The longest string (JSON) or text run (XML) read whole when a record is too large to hold: longer
# ones are cut while reading to a prefix of this many bytes, at least 262,144 characters of UTF-8
# (the raw writer's field cap), followed by a cut mark (``extract.values.cut_mark``).
READ_CUT_BYTES = 1024 * 1024
