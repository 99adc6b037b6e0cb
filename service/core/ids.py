"""Identifier shapes shared by the catalog, learners and completions."""

import re

#: Track, level, program kind and role ids: lowercase slugs.
SLUG_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
SLUG = re.compile(SLUG_PATTERN)

#: A level is named ``track/level``.
LEVEL_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}/[a-z0-9][a-z0-9._-]{0,63}$"
LEVEL_ID = re.compile(LEVEL_ID_PATTERN)

#: Course ids come from an LMS: letters, digits and ``._-:``, case kept.
COURSE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
COURSE_ID = re.compile(COURSE_ID_PATTERN)

#: Learner ids come from HR/SSO/LMS systems: printable, no spaces or slashes.
LEARNER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@+:-]{0,127}$"
LEARNER_ID = re.compile(LEARNER_ID_PATTERN)

#: Learner attribute names (``department``, ``role``, ``region``...).
ATTRIBUTE_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
ATTRIBUTE_NAME = re.compile(ATTRIBUTE_NAME_PATTERN)

#: Integer keys: ``INTEGER`` columns (status lists, API clients) hold up to INT32_MAX on
#: PostgreSQL, ``BIGINT`` ones (audit seq, webhook deliveries) up to INT64_MAX.
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
