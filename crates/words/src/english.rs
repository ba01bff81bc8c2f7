//! The catalogue's keys, and their English words: the language the code is written in, and
//! the words any other language falls back to for a key its file lacks.
//!
//! A [`Text`] is a fixed sentence or label, with `{placeholders}` the caller fills in
//! ([`crate::tf`]); a [`Count`] is words about a number, one entry per plural form, with
//! `{count}` ([`crate::tn`]). Keys are grouped by where the app shows them. A key's name is
//! what a catalogue file calls it, so renaming one means renaming it in every file (the
//! catalogues' test says which).

/// A key's name hashed (32-bit FNV-1a): what the browser modules look keys up by.
const fn key_hash(name: &str) -> u32 {
    let bytes = name.as_bytes();
    let mut hash: u32 = 0x811c_9dc5;
    let mut at = 0;
    while at < bytes.len() {
        hash = (hash ^ bytes[at] as u32).wrapping_mul(0x0100_0193);
        at += 1;
    }
    hash
}

/// Where among the keys whose names hash to `hashes` the key `name` names is.
///
/// Keys are found by their name's hash so that the browser modules, which read a catalogue
/// file once, carry 4 bytes per key instead of its name and a table of the names (about 1 KB
/// gzip in each module). Where the names are there anyway — natively, as in the catalogues'
/// test — `from_name` compares the name too, so a mistyped key whose hash happened to be a
/// real key's still fails that test before it ships; the test `key_hashes_are_distinct`
/// keeps two keys from sharing one.
fn position_by_hash(name: &str, hashes: &[u32]) -> Option<usize> {
    let hash = key_hash(name);
    hashes.iter().position(|known| *known == hash)
}

/// Declares [`Text`]: each key with its English words.
macro_rules! texts {
    ($($name:ident = $english:literal,)*) => {
        /// A fixed sentence or label the app shows.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Text {
            $(
                #[doc = $english]
                $name,
            )*
        }

        impl Text {
            /// Every text, in the order declared.
            pub const ALL: &[Text] = &[$(Text::$name,)*];

            /// Its key in a catalogue file.
            pub fn name(self) -> &'static str {
                match self {
                    $(Text::$name => stringify!($name),)*
                }
            }

            /// Its English words.
            pub const fn english(self) -> &'static str {
                match self {
                    $(Text::$name => $english,)*
                }
            }

            /// The text a catalogue file's key names (`position_by_hash` says how).
            pub fn from_name(name: &str) -> Option<Text> {
                const HASHES: &[u32] = &[$(key_hash(stringify!($name)),)*];
                let text = Text::ALL[position_by_hash(name, HASHES)?];
                (cfg!(target_arch = "wasm32") || text.name() == name).then_some(text)
            }
        }
    };
}

/// Declares [`Count`]: each key with its English words for one and for other numbers.
macro_rules! counts {
    ($($name:ident = ($one:literal, $other:literal),)*) => {
        /// Words about a number, in the plural form the number takes.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Count {
            $(
                #[doc = $other]
                $name,
            )*
        }

        impl Count {
            /// Every count, in the order declared.
            pub const ALL: &[Count] = &[$(Count::$name,)*];

            /// Its key in a catalogue file (before `.one` / `.other`).
            pub fn name(self) -> &'static str {
                match self {
                    $(Count::$name => stringify!($name),)*
                }
            }

            /// Its English words in `form`.
            pub fn english(self, form: crate::PluralForm) -> &'static str {
                match (self, form) {
                    $(
                        (Count::$name, crate::PluralForm::One) => $one,
                        (Count::$name, crate::PluralForm::Other) => $other,
                    )*
                }
            }

            /// The count a catalogue file's key names (`position_by_hash` says how).
            pub fn from_name(name: &str) -> Option<Count> {
                const HASHES: &[u32] = &[$(key_hash(stringify!($name)),)*];
                let count = Count::ALL[position_by_hash(name, HASHES)?];
                (cfg!(target_arch = "wasm32") || count.name() == name).then_some(count)
            }
        }
    };
}

// At most 256 texts: `Text` is then one byte. A 257th makes every `Text` two bytes, in the
// tables and code of both browser modules, and costs the page's download about 250 bytes
// (gzipped) where one more text costs a few dozen.
texts! {
    // The app as a whole.
    CouldNotStart = "Merpati could not start here — reload the page",

    // Signing in.
    Tagline = "Messages that always arrive.",
    Username = "Username",
    Passphrase = "Passphrase",
    PassphraseHint = "At least 10 characters. It never leaves this device.",
    SignIn = "Sign in",
    CreateAccount = "Create account",
    SecuringPassphrase = "Securing your passphrase…",
    ConnectingToMerpati = "Connecting to Merpati…",
    SigningIn = "Signing in…",
    UsernameTaken = "That username is taken",
    NoSuchUser = "No account has that username",
    WrongPassphrase = "Wrong passphrase for that username",
    OutOfDate = "This version of Merpati is out of date — reload the page",
    VeryBusy = "Merpati is very busy right now — try again in a moment",
    Restarting = "Merpati is restarting — try again in a moment",
    TooManyAttempts = "Too many failed sign-ins — wait a few minutes, then try again",
    TooManySignUps = "Too many accounts were made from this network lately — try again later",
    SignInUnchecked = "The server could not check this sign-in — try again",
    SignInFailed = "Signing in did not work — try again",
    Unreachable = "Merpati cannot be reached right now — try again in a moment",
    UsernameTooShort = "A username needs at least {min} characters",
    UsernameTooLong = "A username has at most {max} characters",
    UsernameStartsWithLetter = "A username starts with a letter",
    UsernameCharacters = "A username may hold only letters a–z, digits and _",
    PassphraseTooShort = "A passphrase needs at least {min} characters",
    SignedOutInAnotherTab = "You signed out in another tab",
    UpdatedInAnotherTab = "Merpati was updated in another tab — reload this page to go on",
    SessionEnded = "This browser was signed out — from another of your devices, or its session ended. Sign in again",
    DeviceSignedOut = "This device was signed out — sign in again",

    // The main screen.
    Settings = "Settings",
    SignOut = "Sign out",
    NewChat = "New chat",
    NewGroup = "New group",
    Dismiss = "Dismiss",
    PickAChat = "Pick a chat, or start a new one.",
    Chats = "Chats",
    Draft = "Draft:",
    NoChatsYet = "No chats yet. Start one with “New chat”.",
    Online = "Online",
    Connecting = "Connecting…",
    Offline = "Offline",
    OfflineRetryingIn = "Offline, retrying in {seconds} s",
    RetryNow = "Retry now",
    CannotSave = "Cannot save on this device — free up storage space",

    // Starting a chat.
    StartChat = "Start chat",
    GroupName = "Group name",
    Members = "Members",
    CreateGroup = "Create group",
    Person = "Person",
    Group = "Group",
    Close = "Close",
    ExampleUsername = "e.g. budi",
    ExampleGroupName = "e.g. Keluarga",

    // A chat.
    BackToChats = "Back to chats",
    VerifySafetyNumber = "Verify safety number",
    CompareSafetyNumber = "Compare this number with {name}'s. If they match, your messages reach only them.",
    SafetyNumberUnknown = "Not yet available",
    Ok = "OK",
    Block = "Block",
    Unblock = "Unblock",
    BlockedNotice = "You blocked this person. They cannot message you here.",
    LeftNotice = "You are no longer a member of this group. You can still read what you received.",
    UsernameToAdd = "Username to add",
    AddMember = "Add member",
    NewGroupName = "New group name",
    Rename = "Rename",
    RemoveMemberNamed = "Remove {name}",
    Remove = "Remove",
    MakeAdmin = "Make admin",
    RemoveAdmin = "Remove admin",
    LeaveGroup = "Leave group",
    LeaveGroupQuestion = "Leave this group? You will no longer get its messages, and only an admin can add you back.",
    YouMarker = "(you)",
    AdminLabel = "admin",
    KeyChanged = "{name}'s security key changed on {date}. Compare the safety number again; nothing you write here is sent until you confirm.",
    TypingOne = "{name} is typing…",
    TypingMany = "{names} and {last} are typing…",
    PresenceOnline = "online",
    LastSeen = "last seen {when}",
    JustNow = "just now",
    Yesterday = "yesterday",
    JumpToNewest = "Jump to the newest message",
    CannotBeDoneHere = "That cannot be done here",
    OpenAChatFirst = "Open a chat first",
    MessageGone = "That message is not here any more",

    // Writing.
    ReplyingTo = "Replying to",
    CancelReply = "Cancel the reply",
    EditingYourMessage = "Editing your message",
    CancelEdit = "Cancel the edit",
    WriteAMessage = "Write a message",
    Message = "Message",
    Send = "Send",
    MessageEmpty = "The message is empty",
    MessageTooLong = "That message is too long",
    EmojiPicker = "Emoji",
    SearchEmoji = "Search emoji",
    EmojiRecent = "Recently used",
    EmojiLoading = "Loading emoji…",
    EmojiFailed = "The emoji could not be loaded",
    NoEmojiFound = "No emoji found",
    EmojiSmileys = "Smileys and emotion",
    EmojiPeople = "People and body",
    EmojiAnimals = "Animals and nature",
    EmojiFood = "Food and drink",
    EmojiTravel = "Travel and places",
    EmojiActivities = "Activities",
    EmojiObjects = "Objects",
    EmojiSymbols = "Symbols",
    EmojiFlags = "Flags",
    SkinTone = "Skin tone",
    MuteChat = "Mute notifications of this chat",
    Muted = "Muted",
    SkinToneDefault = "Default skin tone",
    SkinToneLight = "Light skin tone",
    SkinToneMediumLight = "Medium-light skin tone",
    SkinToneMedium = "Medium skin tone",
    SkinToneMediumDark = "Medium-dark skin tone",
    SkinToneDark = "Dark skin tone",

    // A message.
    You = "You",
    Someone = "Someone",
    Forwarded = "Forwarded",
    Edited = "edited",
    Sending = "Sending…",
    Sent = "Sent",
    Delivered = "Delivered",
    Read = "Read",
    ReadAt = "Read {time}",
    NotSent = "Not sent",
    NotSentBecause = "Not sent: {reason}",
    ShowQuoted = "Show the message from {name} this answers",
    ReactionLabel = "{emoji} {count}: {people}",
    InfoAboutMessage = "Info about this message",
    Info = "Info",
    Retry = "Retry",
    MessageActions = "Message actions",
    MessageDetails = "Message details",
    Reply = "Reply",
    Edit = "Edit",
    Copy = "Copy",
    React = "React…",
    Forward = "Forward…",
    DeleteForEveryone = "Delete for everyone",
    DeleteForMe = "Delete for me",
    Cancel = "Cancel",
    ReactWith = "React with {emoji}",
    MoreEmoji = "More emoji",
    NoChatsToForwardTo = "No other chats to forward to",
    MessageDeleted = "This message was deleted",

    // Photos and files.
    Photo = "Photo",
    AttachFile = "Attach a photo or file",
    OpenPhoto = "Open photo",
    ClosePhoto = "Close photo",
    DownloadFile = "Download {name}",
    CancelUpload = "Cancel sending",
    AlreadySent = "Already sent from another tab",
    Uploading = "Sending file",
    Downloading = "Downloading file",
    FileTooLarge = "That file is larger than {max} — Merpati sends files up to {max}",
    FileUnreadable = "That file could not be read",
    FileChanged = "This file did not arrive as it was sent, so it was not opened",
    DownloadFailed = "The file could not be downloaded — try again",
    FileGone = "This file is no longer on the server — send it again",
    FileMessage = "A photo or file cannot be edited or forwarded — send it again instead",
    SizeBytes = "{size} B",
    SizeKilobytes = "{size} KB",
    SizeMegabytes = "{size} MB",
    DecimalPoint = ".",
    MessageUnreadable = "⚠ This message cannot be shown by this version of Merpati",
    MessageWaiting = "🔒 Waiting for this message's key — it opens by itself when it arrives",
    MessageTampered = "⚠ This message was altered on the way and is not shown",
    MessageReplayed = "⚠ This is a copy of an earlier message, delivered again by the server, and is not shown",
    MessageWrongSender = "⚠ This message's sender could not be verified, so it is not shown",

    // What happened in a group.
    GroupCreated = "{name} created the group “{title}”",
    MemberAdded = "{name} added {other}",
    MemberRemoved = "{name} removed {other}",
    MemberLeft = "{name} left",
    GroupRenamed = "{name} renamed the group to “{title}”",
    NowAdmin = "{name} is now an admin",
    MadeAdmin = "{name} made {other} an admin",
    NoLongerAdmin = "{other} is no longer an admin (by {name})",

    // What the server refused.
    CannotChatWithSelf = "That is you — pick someone else to chat with",
    InvalidGroupName = "A group name needs 1 to 100 characters",
    TooManyMembers = "A group can have at most 256 members",
    NoSuchChatAnyMore = "That chat does not exist any more",
    AlreadyMember = "They are already in this group",
    NotAGroup = "Only groups take new members",
    NotAMemberAnyMore = "They are not in this group (any more)",
    NotAdmin = "Only the group's admins can do that",
    BlockedByThem = "That person does not accept this from you",
    QuotaExceeded = "That is more than Merpati keeps for one account for now — try again later",
    SlowDown = "Slow down a little — try again in a moment",
    DidNotFinish = "That did not finish — try again",
    DidNotWork = "That did not work — try again",

    // What the app refused before asking the server.
    NotConnected = "Not connected — try again when the connection is back",
    GroupNeedsName = "A group needs a name",
    GroupNameTooLong = "A group's name is at most {max} characters",
    NoSuchChat = "That chat does not exist",
    NoLongerMember = "You are no longer a member of this group",
    OnlyGroups = "Only a group can do that — this is a one-to-one chat",
    InGroupAlready = "They are in the group already",
    NotInGroup = "They are not in this group",
    TooManyBlocked = "You can block at most {max} people",
    NoLongerMemberOfChat = "You are no longer a member of this chat",
    YouBlockedThem = "You blocked this person — unblock them to send messages",
    NotYourMessage = "You can only edit or delete your own messages",
    MessageWasDeleted = "That message was deleted",
    NoTextYet = "That message has no text to use — wait until it has opened",
    OneEmoji = "A reaction is a single emoji",
    NeverSent = "That message was never sent — delete it for yourself instead",
    SomethingWentWrong = "Something went wrong on this device — reload the page",

    // Search.
    SearchMessages = "Search messages",
    MessagesFound = "Messages found",
    NoMessagesFound = "No messages found.",

    // Settings.
    CloseSettings = "Close settings",
    Appearance = "Appearance",
    Theme = "Theme",
    ThemeSystem = "As the device is set",
    ThemeLight = "Light",
    ThemeDark = "Dark",
    Language = "Language",
    Privacy = "Privacy",
    ShareReadReceipts = "Send read receipts (off: nobody sees when you read, and you see nobody's)",
    SharePresence = "Show when you are online (off: you see nobody's either)",
    Notifications = "Notifications",
    NotifyMe = "Notify me of new messages while I look elsewhere",
    NotificationText = "Show the message's text in them",
    NotificationsBlocked = "This browser blocks notifications from Merpati: allow them in its settings for this site",
    NotificationsUnsupported = "This browser cannot show notifications",
    NotificationsNotAllowed = "Notifications stay off: the browser was not told yes",
    NewMessage = "New message",
    SenderSaid = "{sender}: {text}",
    NotificationsOffer = "Get a notification when a message arrives while you look elsewhere.",
    TurnOn = "Turn on",
    NotNow = "Not now",

    // Devices.
    Devices = "Devices",
    FindingDevices = "Finding where you are signed in…",
    SignOutDevice = "Sign out {name}",
    ThisBrowser = "This browser",
    BrowserOnSystem = "{browser} on {system}",
    BrowserDevice = "Browser · device {id}",
    BrowserNoKeys = "Browser · no keys yet",
    ActiveToday = "Active today",
    ActiveYesterday = "Active yesterday",
    ActiveOn = "Active {date}",
    SignedInOn = "Signed in {date}",

    // Dates: "27 Nov 2026", "27 Nov 14:05".
    DayMonthYear = "{day} {month} {year}",
    // A clock time: "21:41", or "9:41 PM" where the browser's locale counts hours to 12.
    ClockTime24 = "{hour}:{minute}",
    ClockTime12 = "{hour}:{minute} {half}",
    BeforeNoon = "AM",
    AfterNoon = "PM",
    DayMonthTime = "{day} {month} {time}",
    DayMonth = "{day} {month}",
    TodayAsDay = "Today",
    YesterdayAsDay = "Yesterday",
    January = "Jan",
    February = "Feb",
    March = "Mar",
    April = "Apr",
    May = "May",
    June = "Jun",
    July = "Jul",
    August = "Aug",
    September = "Sep",
    October = "Oct",
    November = "Nov",
    December = "Dec",
}

counts! {
    MinutesAgo = ("{count} minute ago", "{count} minutes ago"),
    HoursAgo = ("{count} hour ago", "{count} hours ago"),
    DaysAgo = ("{count} day ago", "{count} days ago"),
    Unread = ("{count} unread message", "{count} unread messages"),
    MembersCount = ("Members ({count})", "Members ({count})"),
    WaitingToSend = (
        "{count} message will be sent when the connection is back",
        "{count} messages will be sent when the connection is back"
    ),
    SignOutLoses = (
        "{count} message waiting to be sent is lost if you sign out now. Sign out anyway?",
        "{count} messages waiting to be sent are lost if you sign out now. Sign out anyway?"
    ),
}

/// The short names of the months, January first: what dates are written with.
pub const MONTHS: [Text; 12] = [
    Text::January,
    Text::February,
    Text::March,
    Text::April,
    Text::May,
    Text::June,
    Text::July,
    Text::August,
    Text::September,
    Text::October,
    Text::November,
    Text::December,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_hashes_are_distinct() {
        let mut hashes: Vec<(u32, &str)> = Text::ALL
            .iter()
            .map(|text| text.name())
            .chain(Count::ALL.iter().map(|count| count.name()))
            .map(|name| (key_hash(name), name))
            .collect();
        hashes.sort_unstable();
        for pair in hashes.windows(2) {
            assert_ne!(pair[0].0, pair[1].0, "{} and {}", pair[0].1, pair[1].1);
        }
    }

    #[test]
    fn every_key_is_found_by_its_name_and_only_by_it() {
        for text in Text::ALL {
            assert_eq!(Text::from_name(text.name()), Some(*text));
            assert_eq!(Count::from_name(text.name()), None);
        }
        for count in Count::ALL {
            assert_eq!(Count::from_name(count.name()), Some(*count));
            assert_eq!(Text::from_name(count.name()), None);
        }
        assert_eq!(Text::from_name("Signin"), None);
        assert_eq!(Text::from_name(""), None);
    }
}
