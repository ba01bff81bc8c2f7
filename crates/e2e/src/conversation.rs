//! The steps a person takes in the app, through the UI test contract: signing up and in,
//! starting chats and groups, sending, reading what a chat shows, a message's menu, and the
//! connection indicator.

use std::time::Duration;

use fantoccini::Locator;
use fantoccini::actions::{InputSource, MOUSE_BUTTON_RIGHT, MouseActions, PointerAction};
use fantoccini::elements::Element;

use crate::{Browser, HarnessError, STEP_TIMEOUT, testid};

impl Browser {
    /// Creates an account through the sign-up form and waits for the main screen.
    pub async fn sign_up(
        &self,
        url: &str,
        username: &str,
        passphrase: &str,
    ) -> Result<(), HarnessError> {
        self.submit_auth(url, username, passphrase, "auth-register")
            .await
    }

    /// Signs in through the form and waits for the main screen.
    pub async fn sign_in(
        &self,
        url: &str,
        username: &str,
        passphrase: &str,
    ) -> Result<(), HarnessError> {
        self.submit_auth(url, username, passphrase, "auth-login")
            .await
    }

    async fn submit_auth(
        &self,
        url: &str,
        username: &str,
        passphrase: &str,
        button: &str,
    ) -> Result<(), HarnessError> {
        self.open(url).await?;
        self.type_into("auth-username", username).await?;
        self.type_into("auth-passphrase", passphrase).await?;
        self.click(button).await?;
        self.find("new-chat").await?;
        Ok(())
    }

    /// Starts a 1:1 chat with `username`; the chat opens.
    pub async fn start_chat(&self, username: &str) -> Result<(), HarnessError> {
        self.click("new-chat").await?;
        self.type_into("new-chat-username", username).await?;
        self.click("new-chat-submit").await?;
        self.wait_chat_title(username).await
    }

    /// Creates a group; it opens.
    pub async fn create_group(&self, title: &str, members: &str) -> Result<(), HarnessError> {
        self.click("new-chat").await?;
        self.click("new-group").await?;
        self.type_into("group-name", title).await?;
        self.type_into("group-members", members).await?;
        self.click("group-submit").await?;
        self.wait_chat_title(title).await
    }

    async fn wait_chat_title(&self, title: &str) -> Result<(), HarnessError> {
        self.eventually(&format!("the open chat to be {title}"), || async {
            let element = self.find("chat-title").await?;
            Ok((element.text().await?.contains(title)).then_some(()))
        })
        .await
    }

    /// Opens the chat titled `title` from the chat list.
    pub async fn open_chat(&self, title: &str) -> Result<(), HarnessError> {
        let selector = format!("[data-testid=\"chat-list-item\"][data-title=\"{title}\"]");
        self.click_css(&selector).await?;
        self.wait_chat_title(title).await
    }

    /// Types a message and presses the send button.
    pub async fn send(&self, text: &str) -> Result<(), HarnessError> {
        self.type_into("composer-input", text).await?;
        self.click("composer-send").await?;
        Ok(())
    }

    /// The lines about the group in the open chat ("sari added tomo"), in display order.
    pub async fn system_lines(&self) -> Result<Vec<String>, HarnessError> {
        let mut lines = Vec::new();
        for element in self.client.find_all(testid("message-system")).await? {
            lines.push(element.text().await?);
        }
        Ok(lines)
    }

    /// Waits until the open chat shows the line `line` about the group; the error says
    /// which lines it shows instead.
    pub async fn wait_system_line(&self, line: &str) -> Result<(), HarnessError> {
        let waited = self
            .eventually(&format!("the line “{line}”"), || async {
                let lines = self.system_lines().await?;
                Ok(lines.iter().any(|shown| shown == line).then_some(()))
            })
            .await;
        if let Err(error) = waited {
            let shown = self.system_lines().await?;
            return Err(format!("{error}; the chat shows {shown:?}").into());
        }
        Ok(())
    }

    /// The texts of the messages shown in the open chat, in display order.
    pub async fn message_texts(&self) -> Result<Vec<String>, HarnessError> {
        let mut texts = Vec::new();
        for element in self.client.find_all(testid("message-text")).await? {
            texts.push(element.text().await?);
        }
        Ok(texts)
    }

    /// Waits until the open chat shows exactly `expected` (in order).
    pub async fn wait_messages(&self, expected: &[&str]) -> Result<(), HarnessError> {
        self.eventually(&format!("messages {expected:?}"), || async {
            let texts = self.message_texts().await?;
            Ok((texts == expected).then_some(()))
        })
        .await
    }

    /// The XPath of the message in the open chat whose text is exactly `text` (no `'` in it).
    pub fn message_xpath(text: &str) -> String {
        format!(
            "//*[@data-testid='message'][.//*[@data-testid='message-text'][normalize-space()='{text}']]"
        )
    }

    /// Waits for the message in the open chat whose text is exactly `text`.
    pub async fn message_with_text(&self, text: &str) -> Result<Element, HarnessError> {
        let xpath = Self::message_xpath(text);
        Ok(self
            .client
            .wait()
            .at_most(STEP_TIMEOUT)
            .for_element(Locator::XPath(&xpath))
            .await?)
    }

    /// Right-clicks the message whose text is `text` and chooses `item` (a testid) in the
    /// menu that opens on it. The row may be drawn anew between being found and being acted
    /// on (its status or receipts changed): then it is found and right-clicked again.
    pub async fn choose_in_menu(&self, text: &str, item: &str) -> Result<(), HarnessError> {
        self.choose_in_menu_of(&Self::message_xpath(text), text, item)
            .await
    }

    /// [`Browser::choose_in_menu`] on the message with a file (the first such): it has no
    /// text to be found by.
    pub async fn choose_in_file_menu(&self, item: &str) -> Result<(), HarnessError> {
        let xpath = "//*[@data-testid='message'][.//*[@data-testid='attachment']]";
        self.choose_in_menu_of(xpath, "the file", item).await
    }

    /// [`Browser::choose_in_menu`] on the message `xpath` finds (`what`, in errors).
    async fn choose_in_menu_of(
        &self,
        xpath: &str,
        what: &str,
        item: &str,
    ) -> Result<(), HarnessError> {
        let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
        loop {
            if self.try_choose_in_menu(xpath, what, item, deadline).await? {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!("the menu of “{what}” kept being drawn anew").into());
            }
        }
    }

    /// One try of [`Browser::choose_in_menu_of`]: `false` if the row or its menu went stale.
    async fn try_choose_in_menu(
        &self,
        xpath: &str,
        what: &str,
        item: &str,
        deadline: tokio::time::Instant,
    ) -> Result<bool, HarnessError> {
        let message = self
            .client
            .wait()
            .at_most(STEP_TIMEOUT)
            .for_element(Locator::XPath(xpath))
            .await?;
        if !self.right_click(&message).await? {
            return Ok(false);
        }
        loop {
            match message.find(testid(item)).await {
                Ok(choice) => {
                    return match choice.click().await {
                        Ok(()) => Ok(true),
                        Err(error) if error.is_stale_element_reference() => Ok(false),
                        Err(error) => Err(error.into()),
                    };
                }
                Err(error) if error.is_stale_element_reference() => return Ok(false),
                Err(_) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(_) => {
                    return Err(
                        format!("timed out waiting for: {item} in the menu of “{what}”").into(),
                    );
                }
            }
        }
    }

    /// Right-clicks the message whose text is `text` and waits until its menu
    /// (`message-actions`) shows, choosing nothing: to look at the menu itself. A row drawn
    /// anew in between is found and right-clicked again.
    pub async fn open_menu(&self, text: &str) -> Result<(), HarnessError> {
        self.eventually(&format!("the menu of “{text}” open"), || async {
            let message = self.message_with_text(text).await?;
            if !self.right_click(&message).await? {
                return Ok(None);
            }
            let open = message.find_all(testid("message-actions")).await?;
            Ok((!open.is_empty()).then_some(()))
        })
        .await
    }

    /// Right-clicks `element`, as a mouse would; `false` if the app drew it anew first.
    async fn right_click(&self, element: &Element) -> Result<bool, HarnessError> {
        let right_click = MouseActions::new("mouse".to_owned())
            .then(PointerAction::MoveToElement {
                element: element.clone(),
                duration: None,
                x: 0.0,
                y: 0.0,
            })
            .then(PointerAction::Down {
                button: MOUSE_BUTTON_RIGHT,
            })
            .then(PointerAction::Up {
                button: MOUSE_BUTTON_RIGHT,
            });
        match self.client.perform_actions(right_click).await {
            Err(error) if error.is_stale_element_reference() => Ok(false),
            other => other.map(|()| true).map_err(Into::into),
        }
    }

    /// Whether the open chat shows a message whose text is exactly `text`, with a descendant
    /// matching `inner` (an XPath step such as `*[@data-testid='message-edited']`).
    pub async fn message_has(&self, text: &str, inner: &str) -> Result<bool, HarnessError> {
        let xpath = format!("{}//{inner}", Self::message_xpath(text));
        Ok(!self
            .client
            .find_all(Locator::XPath(&xpath))
            .await?
            .is_empty())
    }

    /// The `data-status` of every message in the open chat.
    pub async fn message_statuses(&self) -> Result<Vec<String>, HarnessError> {
        let mut statuses = Vec::new();
        for element in self.client.find_all(testid("message")).await? {
            statuses.push(element.attr("data-status").await?.unwrap_or_default());
        }
        Ok(statuses)
    }

    /// Waits until the open chat shows `count` messages, every one acknowledged by the server
    /// (`sent`, `delivered` once the other side's browser holds it, or `read` once the other
    /// side has seen it).
    pub async fn wait_acknowledged(&self, count: usize) -> Result<(), HarnessError> {
        self.wait_acknowledged_within(count, STEP_TIMEOUT).await
    }

    /// [`Browser::wait_acknowledged`] within `patience`: for messages that carry a file of a
    /// few megabytes, encrypted and uploaded first.
    pub async fn wait_acknowledged_within(
        &self,
        count: usize,
        patience: Duration,
    ) -> Result<(), HarnessError> {
        let what = format!("{count} messages acknowledged");
        self.eventually_within(&what, patience, || async {
            let statuses = self.message_statuses().await?;
            let acknowledged = statuses
                .iter()
                .all(|status| ["sent", "delivered", "read"].contains(&status.as_str()));
            Ok((statuses.len() == count && acknowledged).then_some(()))
        })
        .await
    }

    /// Waits for the connection indicator to show `state`.
    pub async fn wait_connection(&self, state: &str) -> Result<(), HarnessError> {
        let last_seen = std::cell::RefCell::new(String::new());
        let waited = self
            .eventually(&format!("connection {state}"), || async {
                let status = self.find("connection-status").await?;
                let seen = status.attr("data-state").await?.unwrap_or_default();
                *last_seen.borrow_mut() = format!("{seen} ({})", status.text().await?);
                Ok((seen == state).then_some(()))
            })
            .await;
        waited.map_err(|error| format!("{error}; last seen: {}", last_seen.borrow()).into())
    }

    /// Waits until connected, pressing "Retry now" whenever the indicator offers it: after
    /// an outage, a browser whose backoff has grown reconnects at once.
    pub async fn wait_online_retrying(&self) -> Result<(), HarnessError> {
        self.eventually("online again", || async {
            if self.connection_state().await? == "offline" {
                // The button hides itself once connected: a click that races that is fine.
                let _ = self.click("connection-retry").await;
            }
            Ok((self.connection_state().await? == "online").then_some(()))
        })
        .await
    }

    /// The `data-state` of the connection indicator.
    pub async fn connection_state(&self) -> Result<String, HarnessError> {
        Ok(self
            .find("connection-status")
            .await?
            .attr("data-state")
            .await?
            .unwrap_or_default())
    }
}
