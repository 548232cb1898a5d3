//! serviceconnect: green reaches blue by its Service Connect name; a second deploy changes nothing

use crate::local::{Deployed, Http};

#[test]
fn green_reaches_blue_through_service_connect() {
    let (stack, run) = Deployed::new("serviceconnect", "sc", &[]);
    assert!(run.stdout.contains("[+] service blue"), "{}", run.stdout);
    let http = Http::new();
    let green = stack.service_url("green");

    // The seed README's request: green fetches blue.serviceconnect through the mesh.
    let body = http.json(&format!("{green}/downstream/blue.serviceconnect"));
    assert_eq!(body["message"], "fetched!");
    assert_eq!(body["service"], "green");
    assert_eq!(body["response"]["service"], "blue");
    assert_eq!(body["response"]["message"], "ok");

    // The same through the task's own port, bypassing the service listener.
    let status = stack.status();
    let task = &status
        .services
        .iter()
        .find(|s| s.name == "green")
        .unwrap()
        .tasks[0];
    let body = http.json(&format!("{}/downstream/blue.serviceconnect", task.url));
    assert_eq!(body["response"]["service"], "blue");
    assert_eq!(http.json(&format!("{}/", task.url))["service"], "green");

    // A name Service Connect does not define is refused by the egress proxy (502), which
    // demo-app reports as a failed downstream call.
    let (code, body) = http.get(&format!("{green}/downstream/red.serviceconnect"));
    assert_eq!(code, 502, "{body}");

    // No gateway in this stack; each service's names are listed.
    assert!(status.gateway.is_none());
    let names: Vec<&str> = status.names.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["blue.serviceconnect", "green.serviceconnect"]);

    // Deploying the same model again touches nothing.
    let pids: Vec<u32> = stack.record().tasks.iter().map(|t| t.process.pid).collect();
    let again = stack.deploy(&[]);
    assert!(again.success, "{}", again.error_line());
    assert!(again.stdout.contains("no changes"), "{}", again.stdout);
    let after: Vec<u32> = stack.record().tasks.iter().map(|t| t.process.pid).collect();
    assert_eq!(
        pids, after,
        "a deploy without changes must not replace tasks"
    );

    // And diff agrees, even with --fail.
    let diff = stack.run("diff", &["--fail"]);
    assert!(diff.success, "{}", diff.stdout);
    assert!(
        diff.stdout.contains("There were no differences"),
        "{}",
        diff.stdout
    );
}
