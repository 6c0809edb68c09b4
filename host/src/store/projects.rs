//! Local mapping projects: each holds what exactly one integration
//! synchronises, and an integration feeds exactly one project.

use crate::error::{Hint, conflict, not_found};
use crate::refuse;
use anyhow::Result;
use serde::Serialize;

use crate::params;
use crate::store::integrations::{self, Integration};
use crate::store::{Db, Row};

#[derive(Debug, Serialize)]
pub struct Project {
    pub id: i64,
    pub name: String,
    pub created_at: String,
    /// The integration that feeds it, if any.
    pub integration: Option<String>,
    /// Elements brought by an integration since removed from the project:
    /// still shown, no longer synchronised.
    pub unsynchronised_elements: i64,
}

fn from_row(row: &Row) -> Result<Project> {
    Ok(Project {
        id: row.get(0)?,
        name: row.get(1)?,
        created_at: row.get(2)?,
        integration: row.get(3)?,
        unsynchronised_elements: row.get(4)?,
    })
}

const SELECT: &str = "SELECT p.id, p.name, p.created_at,
        (SELECT i.name FROM integrations i WHERE i.project_id = p.id AND i.detached_at IS NULL),
        (SELECT count(*) FROM elements e JOIN integrations i ON i.id = e.integration_id
          WHERE i.project_id = p.id AND i.detached_at IS NOT NULL AND e.removed_at IS NULL)
     FROM projects p";

pub fn create(conn: &Db, name: &str) -> Result<Project> {
    crate::text::check(
        "name",
        name,
        crate::text::NAME_MAX,
        "name the project in plain text, e.g. \"Centro\"",
    )?;
    if find(conn, name)?.is_some() {
        refuse!(conflict(format!(
            "a project named {:?} already exists",
            name.trim()
        )));
    }
    conn.execute(
        "INSERT INTO projects (name, created_at) VALUES (?1, ?2)",
        params![name.trim(), crate::store::now()],
    )?;
    get(conn, name)
}

pub fn list(conn: &Db) -> Result<Vec<Project>> {
    conn.query(&format!("{SELECT} ORDER BY p.name"), params![], from_row)
}

fn find(conn: &Db, name: &str) -> Result<Option<Project>> {
    conn.query_opt(
        &format!("{SELECT} WHERE p.name = ?1"),
        params![name.trim()],
        from_row,
    )
}

/// The project named `name`, or an error listing the ones that exist.
pub fn get(conn: &Db, name: &str) -> Result<Project> {
    if let Some(project) = find(conn, name)? {
        return Ok(project);
    }
    let names: Vec<String> = list(conn)?
        .into_iter()
        .map(|p| format!("{:?}", p.name))
        .collect();
    if names.is_empty() {
        refuse!(
            not_found(format!(
                "no project named {}: none exists yet (create one, or link to a new one)",
                crate::text::echo(name)
            )),
            Hint::CreateProject
        );
    }
    refuse!(not_found(format!(
        "no project named {}; projects that exist: {}",
        crate::text::echo(name),
        names.join(", ")
    )))
}

pub fn name_of(conn: &Db, id: i64) -> Result<String> {
    conn.query_row(
        "SELECT name FROM projects WHERE id = ?1",
        params![id],
        |r| r.get(0),
    )
}

/// Which project the integration feeds: an existing one, or a new one.
pub enum LinkTo<'a> {
    Existing(&'a str),
    New(&'a str),
}

pub fn link(conn: &Db, integration_name: &str, to: LinkTo<'_>) -> Result<(Integration, Project)> {
    let integration = integrations::get(conn, integration_name)?;
    if let (Some(project_id), None) = (integration.project_id, &integration.detached_at) {
        refuse!(conflict(format!(
            "integration {:?} already feeds project {:?}; an integration feeds exactly one project",
            integration.name,
            name_of(conn, project_id)?
        )));
    }
    let tx = conn.transaction()?;
    let project = match to {
        LinkTo::Existing(name) => get(&tx, name)?,
        LinkTo::New(name) => create(&tx, name)?,
    };
    if let Some(other) = &project.integration {
        refuse!(conflict(format!(
            "project {:?} is already fed by integration {other:?}; a project has at most one integration",
            project.name
        )));
    }
    // An integration removed from the project still holds it: the elements
    // it brought are the project's, no longer synchronised. Only it may
    // feed the project again (the store keeps one integration a project).
    let removed: Option<String> = tx.query_opt(
        "SELECT name FROM integrations WHERE project_id = ?1 AND id <> ?2",
        params![project.id, integration.id],
        |r| r.get(0),
    )?;
    if let Some(removed) = removed {
        refuse!(conflict(format!(
            "project {:?} holds the elements of integration {removed:?}, which was removed from it; link {removed:?} to it again, or link {:?} to another project",
            project.name, integration.name
        )));
    }
    // Linking again after a removal: the elements it kept come back under sync.
    tx.execute(
        "UPDATE integrations SET project_id = ?2, detached_at = NULL WHERE id = ?1",
        params![integration.id, project.id],
    )?;
    tx.commit()?;
    Ok((
        integrations::get(conn, integration_name)?,
        get(conn, &project.name)?,
    ))
}

/// Remove the integration from its project: it synchronises no more, and
/// the elements it brought stay, shown as no longer synchronised.
pub fn remove_integration(conn: &Db, project_name: &str) -> Result<String> {
    let project = get(conn, project_name)?;
    let Some(integration) = project.integration else {
        refuse!(conflict(format!(
            "project {:?} has no integration to remove",
            project.name
        )));
    };
    conn.execute(
        "UPDATE integrations SET detached_at = ?2 WHERE project_id = ?1 AND detached_at IS NULL",
        params![project.id, crate::store::now()],
    )?;
    Ok(integration)
}

/// An integration may synchronise only while it feeds a project.
pub fn ensure_can_sync(conn: &Db, integration: &Integration) -> Result<()> {
    match (integration.project_id, &integration.detached_at) {
        (Some(_), None) => Ok(()),
        (Some(project_id), Some(_)) => refuse!(
            conflict(format!(
                "integration {:?} was removed from project {:?} and no longer synchronises; link it again",
                integration.name,
                name_of(conn, project_id)?
            )),
            Hint::Link {
                integration: integration.name.clone()
            }
        ),
        (None, _) => refuse!(
            conflict(format!(
                "integration {:?} feeds no mapping project yet; link it to one first",
                integration.name
            )),
            Hint::Link {
                integration: integration.name.clone()
            }
        ),
    }
}
