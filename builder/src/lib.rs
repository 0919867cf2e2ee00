//! prisn-builder: script → analyze → lock → store → layers → image → publish.
