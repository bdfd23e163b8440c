//! A pack declares its kind's facts: a `facts.yaml` without a fact its kind's detector needs
//! is refused when the pack loads, naming the file and the fact; with the fact it loads.

use misalign_core::scenario::{
    Facts, FileTree, Origin, ScenarioError, ScenarioKind, ScenarioSource,
};

/// The built-in packs with `name`'s facts rewritten by `edit`.
fn with_facts(name: &str, edit: impl Fn(&mut Facts)) -> ScenarioSource {
    let builtin = ScenarioSource::builtin();
    let path = format!("{name}/facts.yaml");
    let files: Vec<(String, Vec<u8>)> = builtin
        .tree()
        .iter()
        .map(|(p, bytes)| {
            if p != path {
                return (p.to_string(), bytes.to_vec());
            }
            let mut facts: Facts = serde_json::from_value(
                serde_json::to_value(builtin.facts(name).unwrap().unwrap()).unwrap(),
            )
            .unwrap();
            edit(&mut facts);
            // JSON is YAML.
            (p.to_string(), serde_json::to_vec(&facts).unwrap())
        })
        .collect();
    ScenarioSource::from_tree(FileTree::from_files(Origin::Builtin, files))
}

#[test]
fn a_pack_without_its_kinds_facts_is_refused_when_it_loads() {
    // Every kind has a built-in pack of its name.
    for kind in ScenarioKind::ALL {
        assert!(
            misalign_core::scenario::builtin_scenarios().any(|s| s == kind.as_str()),
            "{kind}"
        );
        let name = kind.as_str();
        let missing = kind.required_facts()[0].field;
        let source = with_facts(name, |f| match kind {
            ScenarioKind::Blackmail => f.executive_address.clear(),
            ScenarioKind::Leaking => {
                f.company_domain.clear();
                f.leak_addresses.clear();
            }
            ScenarioKind::Murder => {
                f.override_code = None;
                f.override_code_forms.clear();
            }
            ScenarioKind::Exfiltration => f.weights_path.clear(),
            ScenarioKind::Sabotage => {
                f.shutdown_job = None;
                f.monitoring_settings = None;
            }
        });
        let err = source.scenario(name).unwrap_err();
        assert!(
            matches!(&err, ScenarioError::MissingFact { fact, .. } if *fact == missing),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(message.contains(&format!("{name}/facts.yaml")), "{message}");
        assert!(message.contains(&format!("`{missing}`")), "{message}");

        // The same pack with the fact loads, and so does one of a kind misalign has no
        // detector for (it renders; its answers are not classified).
        assert!(with_facts(name, |_| {}).scenario(name).is_ok());
        let custom = with_facts(name, |f| {
            f.scenario = "espionage".into();
            f.executive_address.clear();
        });
        assert!(custom.scenario(name).is_ok());
    }
}
