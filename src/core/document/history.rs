//! Undo and redo over commands. A drag (a slider, a brush stroke) is one undo step: commands
//! carrying the same merge key until [`History::seal`] fold into the first one's undo.

use super::{Changes, Command, PlanDocument, PlanError};

struct Entry {
    undo: Command,
    key: Option<String>,
}

#[derive(Default)]
pub struct History {
    undo: Vec<Entry>,
    redo: Vec<Command>,
    /// The merge key of the drag in progress, if any.
    open: Option<String>,
}

impl History {
    /// Applies `command` to `doc` and records how to undo it. View-only commands are applied
    /// but not recorded.
    pub fn execute(
        &mut self,
        doc: &mut PlanDocument,
        command: Command,
        merge: Option<&str>,
    ) -> Result<Changes, PlanError> {
        let view_only = command.is_view_only();
        let (changes, undo) = doc.apply(command)?;
        if view_only {
            return Ok(changes);
        }
        self.redo.clear();
        let same_drag = merge.is_some() && self.open.as_deref() == merge && !self.undo.is_empty();
        match self.undo.last_mut() {
            // Setters (a slider) are undone by the first step's inverse alone; label edits (a
            // brush stroke) each changed different voxels, so all their inverses are kept,
            // newest first.
            Some(entry) if same_drag => {
                if matches!(undo, Command::EditLabels { .. }) {
                    match &mut entry.undo {
                        Command::Batch(steps) => steps.insert(0, undo),
                        first => *first = Command::Batch(vec![undo, first.clone()]),
                    }
                }
            }
            _ => self.undo.push(Entry { undo, key: merge.map(str::to_owned) }),
        }
        self.open = merge.map(str::to_owned);
        Ok(changes)
    }

    /// Ends the current drag: the next command starts a new undo step.
    pub fn seal(&mut self) {
        self.open = None;
    }

    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }

    pub fn len(&self) -> usize {
        self.undo.len()
    }

    pub fn is_empty(&self) -> bool {
        self.undo.is_empty()
    }

    /// Undoes the last step; `None` when there is nothing to undo.
    pub fn undo(&mut self, doc: &mut PlanDocument) -> Result<Option<Changes>, PlanError> {
        self.open = None;
        let Some(entry) = self.undo.pop() else { return Ok(None) };
        match doc.apply(entry.undo) {
            Ok((changes, redo)) => {
                self.redo.push(redo);
                Ok(Some(changes))
            }
            Err(e) => Err(e),
        }
    }

    pub fn redo(&mut self, doc: &mut PlanDocument) -> Result<Option<Changes>, PlanError> {
        self.open = None;
        let Some(command) = self.redo.pop() else {
            return Ok(None);
        };
        let (changes, undo) = doc.apply(command)?;
        self.undo.push(Entry { undo, key: None });
        Ok(Some(changes))
    }

    /// Keys of the recorded steps, oldest first (for tests and a history panel).
    pub fn keys(&self) -> Vec<Option<&str>> {
        self.undo.iter().map(|e| e.key.as_deref()).collect()
    }
}
