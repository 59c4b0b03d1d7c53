"""The course's exercise scaffolding, kept apart from the model and training code.

- :mod:`vit_core.course.checks` holds the instant checks the notebooks call on a
  learner's own functions (``check_patchify(my_patchify)`` and friends);
- :mod:`vit_core.course.reference` holds the reference solutions, which the notebooks
  use until the learner's code passes its check;
- :mod:`vit_core.course.carry` chooses between the two (``use``) and hands the
  learner's passing parts of the ViT to the later notebooks (``earlier``).

Nothing in the core package imports them.
"""
