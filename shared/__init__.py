"""ddd-transfer's plain-Python core: settings, models, storage, plan, copy, manifest, website.

Nothing here needs the Functions host; the activities in ``activities/`` call into it.
"""
