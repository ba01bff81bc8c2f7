//! What people do to messages and to the composer, as commands for the worker: reply, edit,
//! delete, react, forward ([`MessageAction`]), the composer's draft and the typing signal.
//!
//! The page checks only what it can say at once (a reply's or edit's text is a valid body);
//! everything else — whose message it is, whether it was deleted, membership — is the
//! engine's to decide, and its refusal comes back as [`merpati_bridge::Update::ActionError`]
//! words for the composer.

use leptos::prelude::Set;
use merpati_bridge::Command;
use merpati_protocol::ClientMsgId;
use merpati_protocol::content::text_body;
use merpati_words::{Text, refusals, t};

use crate::state::AppContext;
use crate::views::chat_view::MessageAction;

impl AppContext {
    /// Does an action on a message of the chat on screen; `Err` carries words for the
    /// composer.
    pub fn message_action(self, action: MessageAction) -> Result<(), String> {
        let Some(chat) = self.open_chat_id_untracked() else {
            return Err(t(Text::OpenAChatFirst));
        };
        let target = |id: &str| ClientMsgId::from_hex(id).ok_or_else(|| t(Text::MessageGone));
        let command = match action {
            MessageAction::Reply { target: id, text } => {
                text_body(&text).map_err(refusals::text_body)?;
                Command::SendReply {
                    chat,
                    target: target(&id)?,
                    text,
                }
            }
            MessageAction::Edit { target: id, text } => {
                text_body(&text).map_err(refusals::text_body)?;
                Command::Edit {
                    chat,
                    target: target(&id)?,
                    text,
                }
            }
            MessageAction::DeleteForEveryone(id) => Command::DeleteForEveryone {
                chat,
                target: target(&id)?,
            },
            MessageAction::DeleteForMe(id) => Command::DeleteForMe {
                chat,
                target: target(&id)?,
            },
            MessageAction::React { target: id, emoji } => Command::React {
                chat,
                target: target(&id)?,
                emoji,
            },
            MessageAction::Forward { target: id, to } => Command::Forward {
                from: chat,
                target: target(&id)?,
                to,
            },
        };
        // A new action: the words about the last refused one no longer apply.
        self.action_error.set(None);
        self.send(command);
        Ok(())
    }

    /// The person typed in the composer of the chat on screen: its text is kept as the chat's
    /// draft, and the others are told someone is typing (the engine throttles that).
    pub fn composer_input(self, text: String) {
        let Some(chat) = self.open_chat_id_untracked() else {
            return;
        };
        let typing = !text.trim().is_empty();
        self.send(Command::SetDraft { chat, text });
        if typing {
            self.send(Command::Typing(chat));
        }
    }
}
