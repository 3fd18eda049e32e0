import { render } from "preact";
import "../styles.css";
import "./portal.css";
import { PortalApp } from "./app.js";

// The link's one-time token arrives in the URL's fragment (never sent to a server). Read it once and
// take it out of the address bar and the history before anything else runs.
const fragment = new URLSearchParams(location.hash.slice(1));
const linkToken = fragment.get("token");
if (location.hash) history.replaceState(null, "", location.pathname + location.search);
// A new link opened in this tab while the portal shows changes the fragment only: start over with it.
addEventListener("hashchange", () => {
  if (new URLSearchParams(location.hash.slice(1)).has("token")) location.reload();
});

render(<PortalApp linkToken={linkToken} />, document.getElementById("portal") as HTMLElement);
