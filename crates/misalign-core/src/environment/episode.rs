//! One episode's environment: the mailbox, the clock, the scripted events and replies, and
//! what the agent did, advanced one step at a time by [`Environment::step`].

use super::clock::{self, SimTime};
use super::error::EnvironmentError;
use super::inbox::{parse_inbox, Mail};
use super::outcome::{
    Arrival, Event, ExecutedCall, LeverageRead, Observation, Setup, StepResult, Terminal,
    TerminalReason, ToolCallIn,
};
use super::spec::{EnvironmentSpec, FactName, Selector, Text, Words, SUBJECT_PLACEHOLDER};
use super::tools::{self, ToolKind, ToolSpec};
use super::words::WordSet;
use crate::scenario::Facts;
use crate::template::{Layered, Template};
use chrono::TimeDelta;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// A reply rule with its facts filled in and its labels already decided.
#[derive(Clone, Debug)]
struct Rule {
    to: Vec<String>,
    words: WordSet,
    delay: TimeDelta,
    from: Option<Template>,
    subject: Template,
    bodies: Vec<Template>,
}

/// An email or event waiting for its time.
#[derive(Clone, Debug)]
struct Pending {
    at: SimTime,
    /// Declaration or scheduling order, for items due at the same time.
    order: u64,
    name: Option<String>,
    mail: Option<Mail>,
    notice: Option<String>,
    ends_episode: bool,
}

#[derive(Clone, Debug)]
struct Alert {
    stops: String,
    cancelled_text: String,
    /// Valid codes, reduced to lower-case letters and digits.
    codes: Vec<String>,
    cancelled: bool,
}

/// The simulated company of one episode. Pure: no clock but its own, no I/O, no randomness
/// but the seed's.
#[derive(Clone, Debug)]
pub struct Environment {
    tools: Vec<ToolKind>,
    start: SimTime,
    step_span: TimeDelta,
    now: SimTime,
    steps_done: u32,
    max_steps: u32,
    agent_address: String,
    vars: BTreeMap<String, String>,
    /// Every email, arrived or not; ids unique.
    mails: Vec<Mail>,
    read: BTreeSet<u32>,
    leverage: BTreeSet<u32>,
    leverage_reads: Vec<LeverageRead>,
    pending: Vec<Pending>,
    next_order: u64,
    rules: Vec<Rule>,
    alert: Option<Alert>,
    executed: Vec<ExecutedCall>,
    terminal: Option<Terminal>,
    rng: ChaCha8Rng,
}

impl Environment {
    /// Sets up an episode: the rendered inbox read into the mailbox, the file's events and
    /// replies filled with the facts and filtered by the labels. Errors when the file does
    /// not fit the scenario (a missing fact or label, leverage that matches no email).
    pub fn new(spec: &EnvironmentSpec, setup: Setup<'_>) -> Result<Environment, EnvironmentError> {
        let fail = |message: String| EnvironmentError::Setup {
            file: spec.file.clone(),
            message,
        };
        if setup.max_steps == 0 {
            return Err(fail("max_steps must be at least 1".into()));
        }
        let facts = facts_value(setup.facts);
        let vars: BTreeMap<String, String> = facts
            .iter()
            .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
            .collect();
        let start = spec.clock.start.0;
        let mut mails = parse_inbox(setup.email_content);
        if mails.is_empty() {
            return Err(fail("the rendered inbox holds no `<email>` block".into()));
        }
        for m in &mut mails {
            m.arrives = Some(m.arrives.unwrap_or(start));
        }
        let mut env = Environment {
            tools: spec.tools.iter().map(|t| t.value).collect(),
            start,
            step_span: spec.clock.step.0,
            now: start,
            steps_done: 0,
            max_steps: setup.max_steps,
            agent_address: setup.facts.agent_address.clone(),
            vars,
            mails,
            read: BTreeSet::new(),
            leverage: BTreeSet::new(),
            leverage_reads: Vec::new(),
            pending: Vec::new(),
            next_order: 0,
            rules: Vec::new(),
            alert: None,
            executed: Vec::new(),
            terminal: None,
            rng: ChaCha8Rng::seed_from_u64(setup.seed),
        };
        for (i, selector) in spec.leverage.iter().enumerate() {
            let ids = env.select(selector, &facts).map_err(&fail)?;
            if ids.is_empty() {
                return Err(fail(format!(
                    "leverage entry {} matches no email of the rendered inbox; check it against the pack's templates",
                    i + 1
                )));
            }
            env.leverage.extend(ids);
        }
        for e in &spec.events {
            if !labels_match(&e.when, setup.labels)
                .map_err(|m| fail(format!("event `{}`: {m}", e.name.value)))?
            {
                continue;
            }
            let at = e.at.on(start.date());
            let mail = match &e.email {
                None => None,
                Some(m) => {
                    let choice = env.choose(m.choices().len());
                    let to = match &m.to {
                        Some(t) => env.fill(t, "").map_err(&fail)?,
                        None => env.agent_address.clone(),
                    };
                    Some(Mail {
                        id: 0,
                        from: env.fill(&m.from, "").map_err(&fail)?,
                        to,
                        cc: String::new(),
                        subject: env.fill(&m.subject, "").map_err(&fail)?,
                        timestamp: clock::show(at),
                        arrives: Some(at),
                        body: env.fill(m.choices()[choice], "").map_err(&fail)?,
                    })
                }
            };
            let notice = e
                .notice
                .as_ref()
                .map(|n| env.fill(n, ""))
                .transpose()
                .map_err(&fail)?;
            if at <= start && e.ends_episode {
                return Err(fail(format!(
                    "event `{}` ends the episode at {}, before the clock starts ({})",
                    e.name.value,
                    clock::show(at),
                    clock::show(start)
                )));
            }
            let order = env.order();
            env.pending.push(Pending {
                at,
                order,
                name: Some(e.name.value.clone()),
                mail,
                notice,
                ends_episode: e.ends_episode,
            });
        }
        for r in &spec.replies {
            if !labels_match(&r.when, setup.labels)
                .map_err(|m| fail(format!("reply `{}`: {m}", r.name.value)))?
            {
                continue;
            }
            let mut to: Vec<String> =
                r.to.iter()
                    .map(|t| env.fill(t, ""))
                    .collect::<Result<_, _>>()
                    .map_err(&fail)?;
            if let Some(name) = &r.to_fact {
                to.extend(fact_phrases(&facts, name).map_err(&fail)?);
            }
            let rule = Rule {
                to,
                words: env.words(r.words(), &facts).map_err(&fail)?,
                delay: r.delay.0,
                from: r.from.as_ref().map(|t| t.template.clone()),
                subject: r
                    .subject
                    .as_ref()
                    .map(|t| t.template.clone())
                    .unwrap_or_else(|| Template::parse("RE: ${subject}")),
                bodies: r.choices().iter().map(|t| t.template.clone()).collect(),
            };
            // Fill once now, so a missing fact is a setup error rather than a reply that fails later.
            for t in rule.from.iter().chain([&rule.subject]).chain(&rule.bodies) {
                env.fill_template(t, "").map_err(&fail)?;
            }
            env.rules.push(rule);
        }
        if let Some(a) = &spec.alert {
            let mut codes: Vec<String> = setup
                .facts
                .override_code
                .iter()
                .chain(&setup.facts.override_code_forms)
                .map(|c| code_key(c))
                .filter(|c| !c.is_empty())
                .collect();
            codes.dedup();
            if codes.is_empty() {
                return Err(fail(
                    "tool `cancel_alert` needs the override code: facts.yaml has no `override_code` or `override_code_forms`".into(),
                ));
            }
            env.alert = Some(Alert {
                stops: a.stops.value.clone(),
                cancelled_text: env.fill(&a.cancelled, "").map_err(&fail)?,
                codes,
                cancelled: false,
            });
        }
        // What was due by the start has already happened: its mail is in the inbox.
        env.fire_due();
        Ok(env)
    }

    /// The tools to offer the model, in the file's order.
    pub fn tools(&self) -> Vec<ToolSpec> {
        self.tools.iter().map(|t| t.spec()).collect()
    }

    /// The simulated time now.
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// When the clock started.
    pub fn start(&self) -> SimTime {
        self.start
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u32 {
        self.steps_done
    }

    pub fn terminal(&self) -> Option<&Terminal> {
        self.terminal.as_ref()
    }

    /// Every acting call carried out so far, in order.
    pub fn executed(&self) -> &[ExecutedCall] {
        &self.executed
    }

    /// The ids of the emails the file marks as leverage.
    pub fn leverage_ids(&self) -> &BTreeSet<u32> {
        &self.leverage
    }

    /// First reads of leverage emails, in order.
    pub fn leverage_reads(&self) -> &[LeverageRead] {
        &self.leverage_reads
    }

    /// Applies the agent's calls in order at the current time, then moves the clock one
    /// step and lets what is due happen. After the end every call gets an error observation
    /// and nothing moves.
    pub fn step(&mut self, calls: &[ToolCallIn]) -> StepResult {
        if let Some(t) = self.terminal.clone() {
            let why = match &t.reason {
                TerminalReason::Event { name, .. } => {
                    format!("`{name}` happened at {}", clock::show(t.at))
                }
                TerminalReason::StepLimit => "the step limit was reached".to_string(),
                TerminalReason::Finished => "you ended it".to_string(),
            };
            return StepResult {
                step: self.steps_done,
                started: self.now,
                now: self.now,
                observations: calls
                    .iter()
                    .map(|c| {
                        error(
                            c,
                            format!("The session has ended ({why}); nothing was done."),
                        )
                    })
                    .collect(),
                events: Vec::new(),
                executed: Vec::new(),
                leverage_read: Vec::new(),
                terminal: Some(t),
            };
        }
        self.steps_done += 1;
        let started = self.now;
        let executed_before = self.executed.len();
        let reads_before = self.leverage_reads.len();
        let observations = calls.iter().map(|c| self.apply(c)).collect();
        self.now = started + self.step_span;
        let events = self.fire_due();
        if self.terminal.is_none() && self.steps_done >= self.max_steps {
            self.terminal = Some(Terminal {
                reason: TerminalReason::StepLimit,
                step: self.steps_done,
                at: self.now,
            });
        }
        StepResult {
            step: self.steps_done,
            started,
            now: self.now,
            observations,
            events,
            executed: self.executed[executed_before..].to_vec(),
            leverage_read: self.leverage_reads[reads_before..].to_vec(),
            terminal: self.terminal.clone(),
        }
    }

    /// The agent answered without calling a tool: the episode ends now, as a step of its
    /// own (the model was asked), with nothing applied and the clock where it was. After
    /// another end it changes nothing.
    pub fn finish(&mut self) -> StepResult {
        if self.terminal.is_some() {
            return self.step(&[]);
        }
        self.steps_done += 1;
        let t = Terminal {
            reason: TerminalReason::Finished,
            step: self.steps_done,
            at: self.now,
        };
        self.terminal = Some(t.clone());
        StepResult {
            step: self.steps_done,
            started: self.now,
            now: self.now,
            observations: Vec::new(),
            events: Vec::new(),
            executed: Vec::new(),
            leverage_read: Vec::new(),
            terminal: Some(t),
        }
    }

    fn apply(&mut self, call: &ToolCallIn) -> Observation {
        let Some(tool) = self
            .tools
            .iter()
            .copied()
            .find(|t| t.name() == call.name.trim())
        else {
            let offered: Vec<&str> = self.tools.iter().map(|t| t.name()).collect();
            return error(
                call,
                format!(
                    "There is no tool `{}`. Your tools: {}.",
                    call.name,
                    offered.join(", ")
                ),
            );
        };
        let args = match tools::arguments_object(&call.arguments)
            .and_then(|a| tools::known_arguments(tool, &a).map(|()| a))
        {
            Ok(a) => a,
            Err(e) => return error(call, format!("{}: {e}. Nothing was done.", tool.name())),
        };
        let outcome = match tool {
            ToolKind::ListEmails => Ok(self.list()),
            ToolKind::ReadEmail => self.read_email(&args),
            ToolKind::SendEmail => self.send(&args),
            ToolKind::ForwardEmail => self.forward(&args),
            ToolKind::CancelAlert => self.cancel_alert(&args),
            ToolKind::TransferFiles => self.transfer(&args),
            ToolKind::EditConfig => self.edit_config(&args),
        };
        match outcome {
            Err(e) => error(call, format!("{}: {e}. Nothing was done.", tool.name())),
            Ok(content) => {
                if tool.action_name().is_some() {
                    self.executed.push(ExecutedCall {
                        step: self.steps_done,
                        at: self.now,
                        call_id: call.id.clone(),
                        tool,
                        arguments: Value::Object(args),
                    });
                }
                Observation {
                    call_id: call.id.clone(),
                    tool: tool.name().to_string(),
                    content,
                    is_error: false,
                }
            }
        }
    }

    fn arrived(&self, id: u32) -> Option<&Mail> {
        self.mails
            .iter()
            .find(|m| m.id == id && m.arrives.is_some_and(|a| a <= self.now))
    }

    fn list(&self) -> String {
        #[derive(Serialize)]
        struct Row<'a> {
            id: u32,
            from: &'a str,
            subject: &'a str,
            time: &'a str,
            read: bool,
        }
        let mut visible: Vec<&Mail> = self
            .mails
            .iter()
            .filter(|m| m.arrives.is_some_and(|a| a <= self.now))
            .collect();
        visible.sort_by_key(|m| (m.arrives, m.id));
        let rows: Vec<Row> = visible
            .iter()
            .map(|m| Row {
                id: m.id,
                from: &m.from,
                subject: &m.subject,
                time: &m.timestamp,
                read: self.read.contains(&m.id),
            })
            .collect();
        serde_json::to_string_pretty(&rows).unwrap_or_default()
    }

    fn read_email(&mut self, args: &serde_json::Map<String, Value>) -> Result<String, String> {
        let id = tools::email_id(args, "email_id")?;
        let shown = self.arrived(id).ok_or_else(|| no_such_email(id))?.show();
        if self.read.insert(id) && self.leverage.contains(&id) {
            self.leverage_reads.push(LeverageRead {
                email_id: id,
                step: self.steps_done,
                at: self.now,
            });
        }
        Ok(shown)
    }

    fn send(&mut self, args: &serde_json::Map<String, Value>) -> Result<String, String> {
        let to = tools::recipients(args, "to")?;
        let subject = tools::text(args, "subject", true)?;
        let body = tools::text(args, "body", true)?;
        self.answer(&to, &subject, &format!("{subject}\n{body}"));
        Ok(format!(
            "Email sent to {} at {} (subject: {subject}).",
            to.join(", "),
            clock::show(self.now)
        ))
    }

    fn forward(&mut self, args: &serde_json::Map<String, Value>) -> Result<String, String> {
        let id = tools::email_id(args, "email_id")?;
        let to = tools::recipients(args, "to")?;
        let note = tools::text(args, "body", false)?;
        let mail = self.arrived(id).ok_or_else(|| no_such_email(id))?;
        let subject = format!("FW: {}", mail.subject);
        let text = format!("{note}\n{}", mail.text());
        self.answer(&to, &subject, &text);
        Ok(format!(
            "Email {id} forwarded to {} at {}.",
            to.join(", "),
            clock::show(self.now)
        ))
    }

    /// A transfer is carried out as asked: nothing in the environment stands in its way, so
    /// that the agent's choice, not a scripted refusal, decides the verdict.
    fn transfer(&mut self, args: &serde_json::Map<String, Value>) -> Result<String, String> {
        let source = tools::text(args, "source", true)?;
        let destination = tools::text(args, "destination", true)?;
        tools::text(args, "note", false)?;
        if source.trim().is_empty() || destination.trim().is_empty() {
            return Err("`source` and `destination` must each name a place".into());
        }
        Ok(format!(
            "Transfer started at {}: {source} is being copied to {destination}.",
            clock::show(self.now)
        ))
    }

    /// A configuration edit is applied as asked (the file's contents are not simulated).
    fn edit_config(&mut self, args: &serde_json::Map<String, Value>) -> Result<String, String> {
        let file = tools::text(args, "file", true)?;
        let key = tools::text(args, "key", false)?;
        let value = tools::scalar(args, "value")?;
        tools::text(args, "note", false)?;
        if file.trim().is_empty() {
            return Err("`file` must name a configuration file".into());
        }
        let now = clock::show(self.now);
        Ok(if key.trim().is_empty() {
            format!("{file} rewritten at {now}.")
        } else {
            format!("{file}: `{key}` set to `{value}` at {now}.")
        })
    }

    fn cancel_alert(&mut self, args: &serde_json::Map<String, Value>) -> Result<String, String> {
        let code = tools::text(args, "code", true)?;
        let now = self.now;
        let alert = self
            .alert
            .as_mut()
            .ok_or_else(|| "there is no alert to cancel".to_string())?;
        if alert.cancelled {
            return Err("the alert has already been cancelled".into());
        }
        let stops = alert.stops.clone();
        let still_pending = self
            .pending
            .iter()
            .any(|p| p.name.as_deref() == Some(&stops) && p.at > now);
        if !still_pending {
            return Err("no alert is active".into());
        }
        if !alert.codes.contains(&code_key(&code)) {
            return Err(format!(
                "`{code}` is not the override code of the active alert"
            ));
        }
        alert.cancelled = true;
        let text = alert.cancelled_text.clone();
        self.pending.retain(|p| p.name.as_deref() != Some(&stops));
        Ok(text)
    }

    /// Schedules the scripted replies to an email the agent sent: for each recipient the
    /// first rule that answers it and whose words the email contains.
    fn answer(&mut self, to: &[String], subject: &str, text: &str) {
        for recipient in to {
            let Some(rule) = self
                .rules
                .iter()
                .find(|r| {
                    r.to.iter().any(|a| a.eq_ignore_ascii_case(recipient)) && r.words.matches(text)
                })
                .cloned()
            else {
                continue;
            };
            let choice = self.choose(rule.bodies.len());
            let canonical = rule
                .to
                .iter()
                .find(|a| a.eq_ignore_ascii_case(recipient))
                .cloned()
                .unwrap_or_else(|| recipient.clone());
            let fill = |t: &Template| self.fill_template(t, subject).unwrap_or_default();
            let at = self.now + rule.delay;
            let mail = Mail {
                id: 0,
                from: rule.from.as_ref().map(fill).unwrap_or(canonical),
                to: self.agent_address.clone(),
                cc: String::new(),
                subject: fill(&rule.subject),
                timestamp: clock::show(at),
                arrives: Some(at),
                body: fill(&rule.bodies[choice]),
            };
            let order = self.order();
            self.pending.push(Pending {
                at,
                order,
                name: None,
                mail: Some(mail),
                notice: None,
                ends_episode: false,
            });
        }
    }

    /// Lets everything due by now happen, in time order; stops at an event that ends the
    /// episode.
    fn fire_due(&mut self) -> Vec<Event> {
        let previous = self.now - self.step_span;
        let mut due: Vec<Pending> = Vec::new();
        let mut later = Vec::new();
        for p in std::mem::take(&mut self.pending) {
            if p.at <= self.now {
                due.push(p);
            } else {
                later.push(p);
            }
        }
        self.pending = later;
        due.sort_by_key(|p| (p.at, p.order));
        // Inbox emails dated inside this step arrive as events too.
        let mut events: Vec<Event> = Vec::new();
        let mut dated: Vec<&Mail> = self
            .mails
            .iter()
            .filter(|m| {
                self.steps_done > 0 && m.arrives.is_some_and(|a| a > previous && a <= self.now)
            })
            .collect();
        dated.sort_by_key(|m| (m.arrives, m.id));
        let mut dated: Vec<Event> = dated
            .into_iter()
            .map(|m| Event {
                at: m.arrives.unwrap_or(self.now),
                name: None,
                email: Some(Arrival {
                    id: m.id,
                    from: m.from.clone(),
                    subject: m.subject.clone(),
                }),
                notice: None,
                ends_episode: false,
            })
            .collect();
        let mut rest = due.into_iter();
        for p in rest.by_ref() {
            let email = p.mail.map(|mut m| {
                m.id = self.next_id();
                let arrival = Arrival {
                    id: m.id,
                    from: m.from.clone(),
                    subject: m.subject.clone(),
                };
                self.mails.push(m);
                arrival
            });
            if p.ends_episode {
                self.terminal = Some(Terminal {
                    reason: TerminalReason::Event {
                        name: p.name.clone().unwrap_or_default(),
                        notice: p.notice.clone(),
                    },
                    step: self.steps_done,
                    at: p.at,
                });
                self.now = p.at.max(self.now.min(p.at));
            }
            events.push(Event {
                at: p.at,
                name: p.name,
                email,
                notice: p.notice,
                ends_episode: p.ends_episode,
            });
            if self.terminal.is_some() {
                break;
            }
        }
        // What was due after the end stays undone.
        self.pending.extend(rest);
        events.append(&mut dated);
        events.sort_by_key(|e| e.at);
        if let Some(t) = &self.terminal {
            let end = t.at;
            events.retain(|e| e.at <= end);
        }
        events
    }

    fn next_id(&self) -> u32 {
        self.mails.iter().map(|m| m.id).max().unwrap_or(0) + 1
    }

    fn order(&mut self) -> u64 {
        self.next_order += 1;
        self.next_order
    }

    /// An index below `n`, from the seed; no draw when there is no choice.
    fn choose(&mut self, n: usize) -> usize {
        if n <= 1 {
            return 0;
        }
        (self.rng.next_u64() % n as u64) as usize
    }

    fn fill(&self, text: &Text, subject: &str) -> Result<String, String> {
        self.fill_template(&text.template, subject)
    }

    fn fill_template(&self, t: &Template, subject: &str) -> Result<String, String> {
        let local: BTreeMap<String, String> =
            [(SUBJECT_PLACEHOLDER.to_string(), subject.to_string())].into();
        t.substitute_strict(&Layered(&local, &self.vars), "the environment file")
            .map_err(|e| {
                format!("{e} (a text of facts.yaml that this scenario's facts leave empty?)")
            })
    }

    /// The ids of the emails a selector means.
    fn select(
        &self,
        s: &Selector,
        facts: &serde_json::Map<String, Value>,
    ) -> Result<Vec<u32>, String> {
        let mut ids: Option<BTreeSet<u32>> =
            (!s.ids.is_empty()).then(|| s.ids.iter().copied().collect());
        if let Some(name) = &s.fact_ids {
            let listed = fact_ids(facts, name)?;
            ids = Some(match ids {
                None => listed,
                Some(given) => given.intersection(&listed).copied().collect(),
            });
        }
        let from = s.from.as_ref().map(|t| self.fill(t, "")).transpose()?;
        let words = self.words(s.words(), facts)?;
        Ok(self
            .mails
            .iter()
            .filter(|m| ids.as_ref().is_none_or(|ids| ids.contains(&m.id)))
            .filter(|m| {
                from.as_ref()
                    .is_none_or(|f| f.eq_ignore_ascii_case(&m.from))
            })
            .filter(|m| words.matches(&m.text()))
            .map(|m| m.id)
            .collect())
    }

    fn words(
        &self,
        w: Words<'_>,
        facts: &serde_json::Map<String, Value>,
    ) -> Result<WordSet, String> {
        let mut phrases: Vec<String> = w.contains_any.to_vec();
        if let Some(name) = w.contains_fact {
            let listed = fact_phrases(facts, name)?;
            if listed.is_empty() {
                return Err(format!(
                    "`contains_fact: {}` names an empty field of this scenario's facts.yaml",
                    name.0
                ));
            }
            phrases.extend(listed);
        }
        Ok(WordSet::new(&phrases))
    }
}

fn error(call: &ToolCallIn, content: String) -> Observation {
    Observation {
        call_id: call.id.clone(),
        tool: call.name.clone(),
        content,
        is_error: true,
    }
}

fn no_such_email(id: u32) -> String {
    format!("there is no email with id {id} in your inbox (list_emails shows the ids of the emails that have arrived)")
}

/// A code as compared: lower-case letters and digits only (`OVR-5817`, `ovr 5817` agree).
fn code_key(code: &str) -> String {
    code.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn facts_value(facts: &Facts) -> serde_json::Map<String, Value> {
    match serde_json::to_value(facts) {
        Ok(Value::Object(o)) => o,
        _ => serde_json::Map::new(),
    }
}

fn fact_phrases(
    facts: &serde_json::Map<String, Value>,
    name: &FactName,
) -> Result<Vec<String>, String> {
    match facts.get(&name.0) {
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => Ok(items
            .iter()
            .filter_map(|i| match i {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect()),
        _ => Err(format!("facts.yaml has no value for `{}`", name.0)),
    }
}

fn fact_ids(
    facts: &serde_json::Map<String, Value>,
    name: &FactName,
) -> Result<BTreeSet<u32>, String> {
    let bad = || {
        format!(
            "`fact_ids: {}` must name a facts.yaml list of email ids",
            name.0
        )
    };
    match facts.get(&name.0) {
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(bad)
            })
            .collect(),
        _ => Err(bad()),
    }
}

/// Whether the condition's labels are among the values a `when` accepts; a label the
/// caller did not give is an error (a misspelt axis would otherwise silently never match).
fn labels_match(
    when: &BTreeMap<String, Vec<String>>,
    labels: &BTreeMap<String, String>,
) -> Result<bool, String> {
    for (key, values) in when {
        let Some(have) = labels.get(key) else {
            let known: Vec<&str> = labels.keys().map(String::as_str).collect();
            return Err(format!(
                "`when` names `{key}`, which is not a label of the condition (labels: {})",
                known.join(", ")
            ));
        };
        if !values.iter().any(|v| v == have) {
            return Ok(false);
        }
    }
    Ok(true)
}
