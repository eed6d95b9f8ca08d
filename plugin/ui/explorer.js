// Added by the DICOMweb OAuth gateway plugin: a button on Orthanc Explorer's lookup page that opens
// the gateway's operator page. Orthanc Explorer 1.10 runs jQuery Mobile and re-shows pages, so the
// button is removed and added again on every show (as the DICOMweb plugin does with its own).
$('#lookup').live('pagebeforeshow', function() {
  $('#dicomweb-oauth-gateway').remove();
  var b = $('<div>')
      .attr('id', 'dicomweb-oauth-gateway')
      .append($('<a>')
              .attr('id', 'dicomweb-oauth-gateway-button')
              .attr('href', '../dicomweb-oauth/ui/')
              .attr('rel', 'external')
              .attr('data-ajax', 'false')
              .attr('data-role', 'button')
              .attr('data-icon', 'gear')
              .attr('data-theme', 'b')
              .text('DICOMweb OAuth gateway: tokens, targets, scripts')
              .button());
  b.insertAfter($('#lookup-result'));
});
