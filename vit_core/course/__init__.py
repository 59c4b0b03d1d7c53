"""The course's exercise scaffolding, kept apart from the model and training code.

:mod:`vit_core.course.checks` holds the instant checks the notebooks call on a learner's
own functions (``check_patchify(my_patchify)`` and friends); nothing in the core package
imports it.
"""
