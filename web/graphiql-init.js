// Starts GraphiQL (vendored, see scripts/vendor-web.sh) against this server's /graphql. The
// explorer's token, when one was entered in this tab, goes in the headers editor.
(function () {
  "use strict";
  var token = sessionStorage.getItem("tributary.token");
  var props = {
    fetcher: GraphiQL.createFetcher({ url: "/graphql" }),
    defaultQuery:
      "# Tributary's GraphQL API: the schema is in the Docs panel.\n" +
      "{\n  watermark { sequence events }\n  products { id domain }\n}\n",
  };
  if (token) {
    props.defaultHeaders = JSON.stringify({ Authorization: "Bearer " + token }, null, 2);
    props.defaultEditorToolsVisibility = "headers";
  }
  ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(GraphiQL, props));
})();
