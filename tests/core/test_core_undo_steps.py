"""Issue 12, finding 1 (core): each command names the image it changes; undo_step says where Ctrl+Z acts."""

from __future__ import annotations

from annotator.core.masks import Mask
from annotator.core.prompts import PromptSession
from annotator.core.undo import AddCategoryCommand, UndoStack, accept_instance_command, redo_step, undo_step
from tests.core.helpers import disc, make_project


def test_undo_step_names_the_image_of_the_change(tmp_path) -> None:
    project = make_project(tmp_path)
    stack = UndoStack()
    session = PromptSession("img0.png")
    instance = project.new_instance(Mask.from_array(disc(60, 80, 20, 20, 5)), 1)
    stack.push(accept_instance_command(project, session, instance))
    step = undo_step(stack, "img1.png")
    assert step.command is not None and step.command.image_key == "img0.png"
    assert step.elsewhere == "img0.png"
    assert step.menu_text == "Undo Accept object (on img0.png)"
    here = undo_step(stack, "img0.png")
    assert here.elsewhere is None and here.menu_text == "Undo Accept object"
    assert redo_step(stack, "img0.png").menu_text == "Redo" and redo_step(stack, None).command is None
    stack.push(AddCategoryCommand(project, "bird"))
    project_wide = undo_step(stack, "img1.png")
    assert project_wide.command is not None and project_wide.command.image_key is None
    assert project_wide.elsewhere is None
